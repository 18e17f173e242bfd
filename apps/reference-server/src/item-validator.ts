/**
 * A stream's `publish.validate`: a JSON Schema or a protobuf message type
 * that every published item must match, compiled once at start-up (so a
 * schema that cannot compile is a config problem, found by `validate`).
 * The check answers a reason for a bad item, which the server dead-letters
 * as "validation: <reason>".
 */
import { resolve } from "node:path";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Ajv, type ErrorObject } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import { readFile } from "./shipped-files.js";
import type { StreamConfig } from "./config.js";

/** A stream's validate setting. */
export type ValidateConfig = NonNullable<NonNullable<StreamConfig["publish"]>["validate"]>;

/** An item check: the reason it is refused, or undefined. */
export type ItemValidator = (data: Uint8Array) => string | undefined;

/** Compiles a validate setting (files relative to `baseDir`); throws an Error naming what is wrong. */
export function itemValidator(validate: ValidateConfig, baseDir: string): ItemValidator {
  return "jsonSchema" in validate ? jsonSchemaValidator(resolve(baseDir, validate.jsonSchema)) : protobufValidator(resolve(baseDir, validate.protobuf.descriptorSet), validate.protobuf.message);
}

function jsonSchemaValidator(path: string): ItemValidator {
  let schema: unknown;
  try {
    schema = JSON.parse(readFile(path).toString("utf8"));
  } catch (error) {
    throw new Error(`${path}: not JSON: ${(error as Error).message}`);
  }
  // The draft the schema declares: 07 (the most used), or 2020-12 (the default).
  const draft07 = typeof schema === "object" && schema !== null && String((schema as { $schema?: unknown }).$schema ?? "").includes("draft-07");
  const ajv = draft07 ? new Ajv({ allErrors: false, strict: false }) : new Ajv2020({ allErrors: false, strict: false });
  let check: ReturnType<Ajv["compile"]>;
  try {
    check = ajv.compile(schema as object);
  } catch (error) {
    throw new Error(`${path}: not a usable JSON Schema: ${(error as Error).message}`);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return (data) => {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(data));
    } catch (error) {
      return `not JSON: ${(error as Error).message}`;
    }
    if (check(value)) return undefined;
    const first = check.errors?.[0];
    return first ? describeSchemaError(first) : "does not match the schema";
  };
}

/** "/amount: must be number", or "(item): must have required property 'id'". */
function describeSchemaError(error: ErrorObject): string {
  return `${error.instancePath === "" ? "(item)" : error.instancePath}: ${error.message ?? error.keyword}`;
}

function protobufValidator(path: string, message: string): ItemValidator {
  let registry;
  try {
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFile(path)));
  } catch (error) {
    throw new Error(`${path}: not a FileDescriptorSet (build one with \`buf build -o FILE.binpb\`): ${(error as Error).message}`);
  }
  const schema = registry.getMessage(message);
  if (!schema) throw new Error(`${path}: has no message ${message} (it has ${[...registry].filter((type) => type.kind === "message").map((type) => type.typeName).slice(0, 10).join(", ") || "none"})`);
  return (data) => {
    try {
      fromBinary(schema, data);
      return undefined;
    } catch (error) {
      return `not a ${message}: ${(error as Error).message}`;
    }
  };
}
