/**
 * @sluice/driver/internal: what Sluice itself uses of this package but its users
 * do not. Outside semver: it may change in any release (as connect-es marks
 * its internals).
 */
export { sourceError } from "./serve-session.js";
export { WakeSignal } from "./wake-signal.js";
export { DeadlineTimer } from "./clock.js";
