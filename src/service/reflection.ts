import { create, type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImplementation } from "nice-grpc";
import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection";

/**
 * Returns the reflection service under both names grpcurl and other tools look
 * for. The v1alpha messages are identical to the v1 ones on the wire, so
 * one implementation serves both paths.
 */
export function reflectionServices(
  files: readonly DescFile[],
  serviceNames: readonly string[],
) {
  const implementation = ServerReflection(descriptorSet(files), serviceNames);
  const v1alpha = Object.fromEntries(
    Object.entries(ServerReflectionService).map(([name, method]) => [
      name,
      { ...method, path: method.path.replace(".v1.", ".v1alpha.") },
    ]),
  ) as typeof ServerReflectionService;
  return [
    { definition: ServerReflectionService, implementation },
    { definition: v1alpha, implementation },
  ] as const satisfies readonly {
    definition: unknown;
    implementation: ServiceImplementation<typeof ServerReflectionService>;
  }[];
}

/** Encodes `files` and everything they import, dependencies first. */
export function descriptorSet(files: readonly DescFile[]): Uint8Array {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  files.forEach(visit);
  const set = create(FileDescriptorSetSchema, {
    file: ordered.map((file) => file.proto),
  });
  return toBinary(FileDescriptorSetSchema, set);
}
