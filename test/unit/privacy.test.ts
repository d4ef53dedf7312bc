import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import {
  clickHouseExportQuery,
  instanceRef,
  messageOfInstance,
  redactSubject,
  subjectNeedles,
} from "../../privacy/index.ts";

const subject = {
  instanceId: "0b7f0a52-6f0e-4b43-9a44-2b1f3c3d9e11",
  hwid: "c0ffee00c0ffee00c0ffee00c0ffee00",
  email: "owner@example.org",
  addresses: ["198.18.4.120"],
};

describe("erasure: pure parts", () => {
  it("keeps a hash of the instance id in the job row, never the id", () => {
    const ref = instanceRef(subject.instanceId);
    expect(ref).toMatch(/^[0-9a-f]{64}$/);
    expect(ref).not.toContain(subject.instanceId);
    expect(instanceRef(subject.instanceId.toUpperCase())).toBe(ref);
    expect(instanceRef("0b7f0a52-6f0e-4b43-9a44-2b1f3c3d9e12")).not.toBe(ref);
  });

  it("replaces every identifier of the subject in an error kept in the job row", () => {
    const text = `ClickHouse refused ${subject.instanceId} from ${subject.addresses[0]} (${subject.email}, ${subject.hwid})`;
    const out = redactSubject(text, subject);
    for (const n of subjectNeedles(subject)) expect(out).not.toContain(n);
    expect(out).toBe("ClickHouse refused [erased] from [erased] ([erased], [erased])");
  });

  it("looks for the id, hwid, e-mail and addresses, longest first, ignoring empty ones", () => {
    const needles = subjectNeedles({ ...subject, email: "" });
    expect(needles).toEqual([subject.instanceId, subject.hwid, "198.18.4.120"]);
  });

  it("finds an instance's message by its body or by a header such as the message id", () => {
    const body = new TextEncoder().encode(`\u0000avro${subject.instanceId}rest`);
    expect(messageOfInstance({ data: body, header: headers() }, subject.instanceId)).toBe(true);
    const h = headers();
    h.set("Nats-Msg-Id", `${subject.instanceId}:batch-1`);
    expect(messageOfInstance({ data: new Uint8Array(8), header: h }, subject.instanceId)).toBe(true);
    expect(messageOfInstance({ data: new Uint8Array(8), header: headers() }, subject.instanceId)).toBe(false);
  });
});

describe("export: the ClickHouse query", () => {
  it("names the table first, finalizes aggregate states and reads Nested subcolumns", () => {
    const sql = clickHouseExportQuery(
      {
        name: "library_1d",
        storage: "library_1d",
        columns: [
          { name: "day", type: "Date" },
          { name: "instance_id", type: "String" },
          { name: "snapshots", type: "AggregateFunction(count)" },
          { name: "tags.key", type: "Array(String)" },
        ],
      },
      "it's-an-id",
    );
    expect(sql).toContain(
      "SELECT 'library_1d' AS `table`, `day`, `instance_id`, finalizeAggregation(`snapshots`) AS `snapshots`, `tags`.`key`",
    );
    expect(sql).toContain("WHERE instance_id = 'it\\'s-an-id' FORMAT JSONEachRow");
  });
});
