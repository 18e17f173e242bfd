/**
 * A throwaway self-signed certificate for 127.0.0.1 and localhost, made by
 * the openssl CLI (Node has no API to issue X.509 certificates). `.ci/run`
 * makes sure openssl is installed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  /** PEM files, for configs that take paths. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The same, as text: the certificate is also its own CA. */
  readonly cert: string;
  readonly key: string;
}

export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "sluice-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const result = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", keyFile, "-out", certFile],
    { encoding: "utf8" },
  );
  if (result.error || result.status !== 0) throw new Error(`openssl could not make a test certificate: ${result.error?.message ?? result.stderr}`);
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}
