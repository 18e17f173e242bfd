/**
 * @sluice/core/internal: what Sluice itself uses of this package but its users
 * do not. Outside semver: it may change in any release (as connect-es marks
 * its internals).
 */
export { SENDER_TRANSITIONS, RECEIVER_TRANSITIONS, senderTransition, receiverTransition, type Transition } from "./state.js";
export { chunkPayloadBytes } from "./frames.js";
export { mayBeginItem, initialCredit } from "./credit-window.js";
