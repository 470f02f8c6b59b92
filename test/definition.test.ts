import { describe, expect, it } from "vitest";
import { binaryPayload } from "../src/core/payloads.js";
import { ResultLog } from "../src/core/result-log.js";
import { conductorDefinition } from "../src/service/conductor-service.js";
import { serverDefinition } from "../src/service/definition.js";
import {
  encodeSubscribeResponse,
  subscribeResponse,
} from "../src/service/result-encoding.js";

/** Makes a SubscribeResponse of one stored binary result of `size` bytes. */
function responseOf(size: number) {
  const log = new ResultLog({ results: 0, bytes: 0 });
  log.append([binaryPayload(Buffer.alloc(size, 1))]);
  return subscribeResponse(log.take(1), undefined);
}

describe("conductorDefinition", () => {
  it("hands whole-buffer response over uncopied", () => {
    const response = responseOf(8_192);

    const serialized = conductorDefinition.subscribe.responseSerialize(response);

    expect(serialized).toBeInstanceOf(ArrayBuffer);
  });

  it("hands pooled response over as bytes", () => {
    const response = responseOf(16);

    const serialized = conductorDefinition.subscribe.responseSerialize(response);

    expect(Buffer.from(serialized)).toEqual(encodeSubscribeResponse(response));
  });
});

describe("serverDefinition", () => {
  // nice-grpc hands a ts-proto decoder the received bytes without copying them.
  it("passes each method's decoder uncopied", () => {
    const definition = serverDefinition(conductorDefinition) as unknown as {
      fullName: string;
      methods: Record<string, { name: string; requestType: { decode: unknown } }>;
    };

    const pushStream = definition.methods.pushStream;

    expect({
      path: `/${definition.fullName}/${pushStream?.name}`,
      decode: pushStream?.requestType.decode,
    }).toEqual({
      path: conductorDefinition.pushStream.path,
      decode: conductorDefinition.pushStream.requestDeserialize,
    });
  });
});
