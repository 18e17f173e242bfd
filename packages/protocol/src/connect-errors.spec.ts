import { ERROR_CODES, ERROR_CODE_INFO } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { CONNECT_CODE_NUMBERS, CONNECT_FAILURES, connectCodeNumberOf, errorFromConnect } from "./connect-errors.js";

describe("Sluice and Connect errors (PROTOCOL.md §9.3)", () => {
  it("sends every Sluice code as the Connect code of its table row", () => {
    for (const code of ERROR_CODES) expect(connectCodeNumberOf(code)).toBe(CONNECT_CODE_NUMBERS[ERROR_CODE_INFO[code].connectCode]);
    expect(connectCodeNumberOf("unavailable")).toBe(14);
    expect(connectCodeNumberOf("protocol_violation")).toBe(3);
  });

  it("never retries a refused request, and always retries transport trouble", () => {
    for (const name of ["invalid_argument", "not_found", "unimplemented", "unauthenticated", "permission_denied", "failed_precondition", "out_of_range", "already_exists"] as const) {
      expect(errorFromConnect(name, "no").retryable, name).toBe(false);
    }
    for (const name of ["unavailable", "canceled", "aborted", "deadline_exceeded", "resource_exhausted", "internal", "data_loss", "unknown"] as const) {
      expect(errorFromConnect(name, "reset").retryable, name).toBe(true);
    }
    expect(Object.keys(CONNECT_FAILURES).sort()).toEqual(Object.keys(CONNECT_CODE_NUMBERS).sort());
  });

  it("makes a refusing HTTP status permanent whatever code Connect gave it (415 and 505 are unknown, 400 internal)", () => {
    for (const [code, status] of [["unknown", 415], ["unknown", 505], ["internal", 400]] as const) {
      const error = errorFromConnect(code, `HTTP ${status}`, { httpStatus: status });
      expect(error).toMatchObject({ code: "invalid_argument", retryable: false });
      expect(error.message).toContain(`HTTP ${status}`);
    }
    expect(errorFromConnect("unavailable", "HTTP 503", { httpStatus: 503 }).retryable).toBe(true);
    expect(errorFromConnect("unimplemented", "HTTP 404", { httpStatus: 404 })).toMatchObject({ code: "stream_not_found", retryable: false });
  });

  it("maps a Connect code number it does not know to unknown (retryable)", () => {
    expect(errorFromConnect(99, "odd")).toMatchObject({ code: "unavailable", retryable: true });
  });
});
