/**
 * @sluice/client/internal: what Sluice itself uses of this package but its users
 * do not. Outside semver: it may change in any release (as connect-es marks
 * its internals).
 */
export { callError } from "./connect-pipe.js";
export { credentialHeaders } from "./credentials.js";
export { directSubscribeCall, directHalfDuplexFrames, fetchDirectPosts, webSocketDirectCalls, subscribePath, subscribeHalfDuplexPath, responseHeadError, type OpenDirectPost, type DirectPostEvents, MAX_RESPONSE_MESSAGE_BYTES, type DirectCall, type DirectCallEvents, type OpenDirectCall, type RawCallOpener } from "./direct-subscribe.js";
