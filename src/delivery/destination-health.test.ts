import { test } from "node:test";
import assert from "node:assert/strict";
import { DestinationHealth } from "./destination-health.ts";
import { deferred } from "./outcome.ts";

test("a destination marked down defers its mail without a try until its time; then one probe goes, the rest still wait", () => {
  const health = new DestinationHealth();
  const refused = deferred("4.4.1", "mx.example.com[192.0.2.1]:25: connection refused");
  assert.equal(health.check("mx:example.com", 0), undefined, "unknown destinations are tried");
  health.markDown("mx:example.com", 0, 1000, refused);
  const waiting = health.check("mx:example.com", 500);
  assert.equal(waiting?.kind, "deferred");
  assert.equal(waiting?.status, "4.4.1");
  assert.match(waiting?.diagnostic ?? "", /paused after an error: .*connection refused/);
  assert.equal(health.check("mx:other.example", 500), undefined, "other destinations are not affected");
  assert.equal(health.check("mx:example.com", 1000), undefined, "the first caller after the time probes");
  assert.notEqual(health.check("mx:example.com", 1001), undefined, "others wait for the probe");
  health.markUp("mx:example.com");
  assert.equal(health.check("mx:example.com", 1002), undefined, "a probe that got through opens it again");
  health.markDown("mx:example.com", 1500, 3000, refused);
  assert.notEqual(health.check("mx:example.com", 2000), undefined, "a failed probe closes it again");
});

test("mail an administrator asked to be tried now is tried even where its destination was paused before the asking", () => {
  const health = new DestinationHealth();
  const refused = deferred("4.4.1", "[127.0.0.1]:2700: connection refused");
  health.markDown("relay:hub", 100, 60_100, refused);
  assert.notEqual(health.check("relay:hub", 200, 50), undefined, "asked before the destination went down: it waits");
  assert.equal(health.check("relay:hub", 200, 150), undefined, "asked after: tried now");
  assert.equal(health.check("relay:hub", 201, 150), undefined, "so is every message of that flush");
  health.markDown("relay:hub", 300, 60_300, refused);
  assert.notEqual(health.check("relay:hub", 400, 150), undefined, "once a try fails again, the rest of the flush waits");
});
