/** A listen address split into its parts. */
export interface HostPort {
  /** Host name or IP address without brackets; empty for every interface. */
  readonly host: string;
  readonly port: number;
}

/**
 * Splits "host:port", "[ipv6]:port" or ":port" into host and port. Throws
 * a RangeError naming the address when it has no valid port (0 to 65535).
 */
export function splitHostPort(address: string): HostPort {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new RangeError(
      `address "${address}" must be host:port, [ipv6]:port or :port with a port from 0 to 65535`,
    );
  }
  return { host: match[1] ?? match[2] ?? "", port };
}
