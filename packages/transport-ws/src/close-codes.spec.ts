import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLOSE_CODE_RULES, closeFrameReason, CloseCode, keepaliveTimeout, messageTooBig, pingFlood, protocolError, socketClosedError, type CloseCodeName } from "./close-codes.js";

describe("close codes", () => {
  it("are the numbers PROTOCOL.md §14 gives", () => {
    expect(CloseCode).toEqual({ normal: 1000, goingAway: 1001, protocolError: 1002, policyViolation: 1008, messageTooBig: 1009, keepaliveTimeout: 4000 });
  });

  it.each(Object.keys(CloseCode) as CloseCodeName[])("%s fails the open calls as its rule says, with the code and reason in the message", (name) => {
    const rule = CLOSE_CODE_RULES[name];
    expect(rule.when).not.toBe("");
    const error = socketClosedError(CloseCode[name], "why");
    expect(error).toBeInstanceOf(ConnectError);
    expect(error.code).toBe(rule.callsFailWith);
    // §14.4: a socket closed, with or without go_away, fails its open calls with UNAVAILABLE.
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toBe(`websocket closed (${CloseCode[name]} why)`);
  });

  it("a code this transport never sends (1006: the connection dropped) fails the calls with unavailable too", () => {
    const error = socketClosedError(1006, "");
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toBe("websocket closed (1006)");
  });

  it("each violation closes with its code and a reason naming it", () => {
    expect(protocolError("unknown call id 7")).toEqual({ code: 1002, reason: "unknown call id 7" });
    expect(pingFlood(20)).toEqual({ code: 1008, reason: "ping flood: more than 20 pings per second" });
    expect(messageTooBig(600, 512)).toEqual({ code: 1009, reason: "frame of 600 bytes, over the limit 512" });
    expect(keepaliveTimeout(450.4)).toEqual({ code: 4000, reason: "keepalive timeout: peer silent for 450 ms" });
  });
});

describe("closeFrameReason", () => {
  it("keeps a short reason and cuts a long one to 120 bytes", () => {
    expect(closeFrameReason("window overrun on call 1")).toBe("window overrun on call 1");
    expect(closeFrameReason("x".repeat(200))).toBe("x".repeat(120));
  });

  it("never cuts inside a character", () => {
    // 'é' is 2 bytes: 60 of them are exactly 120 bytes, 61 are not.
    expect(closeFrameReason("é".repeat(61))).toBe("é".repeat(60));
    expect(closeFrameReason("a" + "€".repeat(50))).toBe("a" + "€".repeat(39)); // 1 + 39 × 3 = 118 bytes
  });

  it("is a prefix of the reason that fits a close frame, and the whole reason when it fits (property)", () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (reason) => {
        const cut = closeFrameReason(reason);
        const bytes = encoder.encode(cut).byteLength;
        expect(bytes).toBeLessThanOrEqual(120);
        expect(reason.startsWith(cut)).toBe(true);
        if (encoder.encode(reason).byteLength <= 120) expect(cut).toBe(reason);
        else expect(bytes).toBeGreaterThan(116); // only the last character may be dropped
      }),
      { numRuns: 500 },
    );
  });
});
