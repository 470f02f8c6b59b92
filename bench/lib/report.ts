/** The unit a figure is measured in; it decides how the figure prints. */
export type Unit = "per-second" | "microseconds" | "bytes" | "milliseconds";

/** One measured value, usually the median over rounds. */
export interface Figure {
  readonly value: number;
  readonly unit: Unit;
}

/** A target printed next to a figure; missing one never fails the run. */
export interface Target {
  readonly text: string;
  readonly met: boolean;
  /**
   * For a target on the ratio, the way its printed ratio is rounded:
   * toward missing the target, so that a ratio that prints as meeting it
   * did meet it.
   */
  readonly ratioRounding?: "down" | "up" | undefined;
}

/** The lowest and highest of a set of ratios. */
export interface RatioRange {
  readonly low: number;
  readonly high: number;
}

/** One line of a scenario's table. */
export interface Row {
  readonly label: string;
  readonly value: Figure;
  /** The figure `value` is compared with, usually the bare grpc-js one. */
  readonly reference?: Figure | undefined;
  readonly target?: Target | undefined;
  /** Lowest and highest ratio of value to reference in single rounds. */
  readonly roundRatios?: RatioRange | undefined;
  /** Server CPU time per unit of work, in microseconds, for value and reference. */
  readonly cpuUs?: { readonly value: number; readonly reference?: number } | undefined;
}

/** The table one scenario prints. */
export interface Section {
  readonly title: string;
  /** Says what the value and reference columns hold. */
  readonly legend: string;
  readonly rows: Row[];
  readonly notes: string[];
}

/** Returns the target "value / reference is at least `min`". */
export function ratioAtLeast(value: number, reference: number, min: number): Target {
  return {
    text: `ratio >= ${min}`,
    met: value / reference >= min,
    ratioRounding: "down",
  };
}

/** Returns the target "value / reference is at most `max`". */
export function ratioAtMost(value: number, reference: number, max: number): Target {
  return { text: `ratio <= ${max}`, met: value / reference <= max, ratioRounding: "up" };
}

/** Returns the target "value is below `limit`", with the limit printed in `unit`. */
export function below(value: number, limit: number, unit: Unit): Target {
  return { text: `< ${formatFigure({ value: limit, unit })}`, met: value < limit };
}

/** Formats a figure with its unit, scaled to three significant digits. */
export function formatFigure(figure: Figure): string {
  const { value, unit } = figure;
  switch (unit) {
    case "per-second":
      return `${scaled(value, 1000, ["", " k", " M"])}/s`;
    case "microseconds":
      return value >= 1000 ? `${digits(value / 1000)} ms` : `${digits(value)} µs`;
    case "milliseconds":
      return value >= 1000 ? `${digits(value / 1000)} s` : `${digits(value)} ms`;
    case "bytes":
      return `${scaled(value, 1024, [" B", " KiB", " MiB", " GiB"])}`;
  }
}

/** Renders a section as an aligned plain-text table. */
export function formatSection(section: Section): string {
  const withCpu = section.rows.some((row) => row.cpuUs);
  const withRounds = section.rows.some((row) => row.roundRatios);
  const header = ["case", "value", "reference", "ratio"];
  if (withRounds) header.push("rounds");
  header.push("target");
  if (withCpu) header.push("server CPU/unit", "reference CPU/unit");
  const lines = section.rows.map((row) => {
    const cells = [
      row.label,
      formatFigure(row.value),
      row.reference ? formatFigure(row.reference) : "",
      row.reference
        ? ratioText(row.value.value / row.reference.value, row.target?.ratioRounding)
        : "",
    ];
    if (withRounds) cells.push(rangeText(row.roundRatios));
    cells.push(
      row.target ? `${row.target.text}: ${row.target.met ? "met" : "MISSED"}` : "",
    );
    if (withCpu) cells.push(cpuText(row.cpuUs?.value), cpuText(row.cpuUs?.reference));
    return cells;
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] as string).length)),
  );
  const render = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] as number))
      .join("  ")
      .trimEnd();
  const out = [section.title, `  ${section.legend}`, `  ${render(header)}`];
  for (const line of lines) out.push(`  ${render(line)}`);
  for (const note of section.notes) out.push(`  note: ${note}`);
  return out.join("\n");
}

function cpuText(microseconds: number | undefined): string {
  if (microseconds === undefined) return "";
  return formatFigure({ value: microseconds, unit: "microseconds" });
}

function ratioText(ratio: number, rounding?: "down" | "up"): string {
  if (!rounding) return `${digits(ratio)}x`;
  const scale = 10 ** decimalsOf(ratio);
  // The slack keeps a product such as 0.29 * 100 = 28.999999999999996
  // from rounding a whole step away.
  const scaled =
    rounding === "down"
      ? Math.floor(ratio * scale + 1e-9)
      : Math.ceil(ratio * scale - 1e-9);
  return `${digits(scaled / scale)}x`;
}

function rangeText(range: RatioRange | undefined): string {
  return range ? `${digits(range.low)}-${digits(range.high)}x` : "";
}

function scaled(value: number, base: number, suffixes: string[]): string {
  let scaledValue = value;
  let index = 0;
  while (Math.abs(scaledValue) >= base && index < suffixes.length - 1) {
    scaledValue /= base;
    index += 1;
  }
  return `${digits(scaledValue)}${suffixes[index]}`;
}

/** Three significant digits, without exponent notation. */
function digits(value: number): string {
  return value.toFixed(decimalsOf(value));
}

/** Returns the decimals digits() prints for `value`: three significant digits from 1 up. */
function decimalsOf(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return 0;
  if (magnitude >= 10) return 1;
  return 2;
}
