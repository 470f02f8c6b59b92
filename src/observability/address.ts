import { isIPv4, isIPv6 } from "node:net";

/** A listen address split into its parts. */
export interface HostPort {
  /** Host name or IP address without brackets; empty for every interface. */
  readonly host: string;
  readonly port: number;
}

/** The address forms splitHostPort takes, as error messages name them. */
const LISTEN_FORMS = "host:port, [ipv6]:port or :port";

/**
 * Splits "host:port", "[ipv6]:port" or ":port" into host and port. Throws
 * a RangeError naming the address and the expected forms when the port is
 * not 0 to 65535 or the host is not a host name, an IPv4 address or an
 * IPv6 address in brackets.
 */
export function splitHostPort(address: string): HostPort {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new RangeError(
      `address "${address}" must be ${LISTEN_FORMS} with a port from 0 to 65535`,
    );
  }
  const [, ipv6, host = ""] = match;
  if (ipv6 !== undefined) {
    if (!isIPv6(ipv6)) {
      throw new RangeError(
        `"${ipv6}" in address "${address}" is not an IPv6 address; ` +
          `the address must be ${LISTEN_FORMS}`,
      );
    }
    return { host: ipv6, port };
  }
  if (host !== "" && !isHostName(host)) {
    throw new RangeError(
      `host "${host}" in address "${address}" is not a host name or IPv4 address; ` +
        `the address must be ${LISTEN_FORMS}`,
    );
  }
  return { host, port };
}

/** One DNS label: letters, digits and inner hyphens, at most 63 characters. */
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*\\.?$`);

/**
 * Returns true for a host name (RFC 1123 labels) or a dotted IPv4 address.
 * Text of only digits and dots must be an IPv4 address, so that
 * "256.1.1.1" is rejected instead of being looked up as a name.
 */
export function isHostName(host: string): boolean {
  if (/^[\d.]+$/.test(host)) return isIPv4(host);
  return HOST_NAME.test(host);
}
