/** The part of a V8 CPU profile's call frame that names where its code comes from. */
export interface FrameSource {
  readonly functionName: string;
  readonly url: string;
}

/**
 * Returns the source a call frame's code belongs to: the npm package, the
 * file of this project (relative to the compiled tree) or the Node.js
 * module. A frame without a script is one of the VM's own entries, such
 * as `(garbage collector)`, or else `native`.
 */
export function sourceGroup(frame: FrameSource): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith("(") ? functionName : "native";
  if (url.startsWith("node:")) return url;
  const modules = url.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const [first = "", second = ""] = url
      .slice(modules + "/node_modules/".length)
      .split("/");
    return first.startsWith("@") ? `${first}/${second}` : first;
  }
  const compiled = url.match(/\/dist\/(?:benchmarks\/)?(.*)$/);
  return compiled?.[1] ?? url;
}
