import type { Progress } from "../gen/conductor/v1/payload_pb.js";
import { percent } from "./format.js";

/** Erases the current terminal line and returns the cursor to its start. */
const CLEAR_LINE = "\r\x1b[2K";

/**
 * Renders progress as one line, "[######------] 5/10 50%", or "5 done"
 * when the total is unknown. `width` is the number of cells in the bar.
 */
export function renderProgressBar(progress: Progress, width = 30): string {
  const { done, total } = progress;
  if (total === 0n) return `${done} done`;
  const share = percent(done, total);
  const filled = Math.round((share / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${share}%`;
}

/**
 * A progress bar kept on the last line of a terminal. Lines written
 * through `print` appear above it, on whichever stream they go to, because
 * the bar is erased first and drawn again after.
 */
export class ProgressLine {
  readonly #terminal: NodeJS.WritableStream;
  #line: string | undefined;

  constructor(terminal: NodeJS.WritableStream) {
    this.#terminal = terminal;
  }

  update(progress: Progress): void {
    this.#line = renderProgressBar(progress);
    this.#terminal.write(`${CLEAR_LINE}${this.#line}`);
  }

  /** Runs `write`, which prints whole lines, with the bar out of the way. */
  print(write: () => void): void {
    if (this.#line !== undefined) this.#terminal.write(CLEAR_LINE);
    write();
    if (this.#line !== undefined) this.#terminal.write(this.#line);
  }

  /** Leaves the last bar in place and moves to a new line. */
  finish(): void {
    if (this.#line !== undefined) this.#terminal.write("\n");
    this.#line = undefined;
  }
}
