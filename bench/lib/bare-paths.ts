/** Method paths of the bare grpc-js server, which moves encoded bytes as they are. */
export const BARE_PATHS = {
  stream: "/bench.Bare/Stream",
  ingest: "/bench.Bare/Ingest",
  unary: "/bench.Bare/Unary",
  echo: "/bench.Bare/Echo",
} as const;

/** The messages of one prepared bare server stream: SubscribeResponses. */
export interface StreamSpec {
  readonly count: number;
  readonly perMessage: number;
  readonly sizeBytes: number;
}
