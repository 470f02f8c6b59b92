/** Method paths of the bare grpc-js server, which moves encoded bytes as they are. */
export const BARE_PATHS = {
  stream: "/bench.Bare/Stream",
  ingest: "/bench.Bare/Ingest",
  unary: "/bench.Bare/Unary",
  echo: "/bench.Bare/Echo",
  // The job relay of scenario 5 (bench/servers/bare-jobs.ts).
  exec: "/bench.Bare/Exec",
  jobs: "/bench.Bare/Jobs",
  push: "/bench.Bare/Push",
  finish: "/bench.Bare/Finish",
  watch: "/bench.Bare/Watch",
} as const;

/** The messages of one prepared bare server stream: SubscribeResponses. */
export interface StreamSpec {
  readonly count: number;
  readonly perMessage: number;
  readonly sizeBytes: number;
}
