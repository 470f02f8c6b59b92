import { type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";

/**
 * Options of every JSON message the command writes: fields at their zero
 * value are written too, so that scripts need no defaults. 64-bit integers
 * are strings, as the protobuf JSON mapping has them.
 */
export const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;

/** Writes `message` to stdout as one line of JSON. */
export function printJson<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): void {
  process.stdout.write(`${toJsonString(schema, message, JSON_OPTIONS)}\n`);
}
