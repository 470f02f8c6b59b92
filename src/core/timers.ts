/**
 * Maximum delay that setTimeout honours. Node fires at once, with a warning,
 * for any longer delay.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
