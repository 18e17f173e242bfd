/**
 * Core's priority levels (0 CRITICAL .. 3 LOW) and the wire's Priority enum
 * (PROTOCOL.md §3.4 rule 10), where 0 is UNSPECIFIED and means NORMAL.
 */
import { Priority as CorePriority, SluiceError } from "@sluice/core";
import { Priority } from "./gen/sluice/v1/frames_pb.js";

/** A core priority as the wire's enum; NORMAL (and absent) is UNSPECIFIED, so a normal chunk is byte for byte what it was before priorities. */
export function priorityToWire(priority: CorePriority | undefined): Priority {
  return priority === undefined || priority === CorePriority.NORMAL ? Priority.UNSPECIFIED : ((priority + 1) as Priority);
}

/** The wire's enum as a core priority; undefined for NORMAL. Throws protocol_violation (blame remote) for a value outside the enum. */
export function priorityFromWire(wire: Priority, field: string): CorePriority | undefined {
  if (wire === Priority.UNSPECIFIED || wire === Priority.NORMAL) return undefined;
  if (wire >= Priority.CRITICAL && wire <= Priority.LOW) return (wire - 1) as CorePriority;
  throw new SluiceError("protocol_violation", `${field}: unknown priority ${wire}`, { blame: "remote", field });
}
