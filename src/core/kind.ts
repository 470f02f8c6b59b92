import { InvalidArgumentError } from "./errors.js";

/** Maximum length of a job kind name, in characters. */
export const MAX_KIND_LENGTH = 128;

// Control characters would reach logs, metric labels and terminals as is.
// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what it finds
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Checks a job kind name: 1 to 128 characters, none of them a control
 * character. Throws InvalidArgumentError naming `field`.
 */
export function validateKind(kind: string, field = "kind"): void {
  if (kind.length === 0) {
    throw new InvalidArgumentError(field, `${field} must not be empty`);
  }
  if (kind.length > MAX_KIND_LENGTH) {
    throw new InvalidArgumentError(
      field,
      `${field} is ${kind.length} characters long; the limit is ${MAX_KIND_LENGTH}`,
    );
  }
  const control = CONTROL_CHARACTER.exec(kind);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).padStart(2, "0");
    throw new InvalidArgumentError(
      field,
      `${field} must not contain control characters; found U+00${code} at index ${control.index}`,
    );
  }
}
