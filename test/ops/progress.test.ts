import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bar, describeTransfer, formatDuration, TransferMeter } from "../../src/hub/progress.js";

describe("download progress", () => {
  it("gives the rate over the recent window and the time left at that rate", () => {
    let now = 0;
    const meter = new TransferMeter(1_000_000_000, () => now);
    meter.update(0);
    assert.equal(meter.etaSeconds, undefined);
    now = 2000;
    meter.update(100_000_000);
    assert.equal(meter.rate, 50_000_000);
    assert.equal(meter.etaSeconds, 18);
    assert.equal(describeTransfer(meter), "100 MB / 1.0 GB (10%)  50.0 MB/s  ETA 18s");
    assert.equal(bar(meter, 10), "[#---------]");
    // Old samples leave the window: a slower link shows its own rate, not the average since the start.
    now = 30_000;
    meter.update(200_000_000);
    now = 40_000;
    meter.update(210_000_000);
    assert.equal(meter.rate, 1_000_000);
  });

  it("writes durations as people read them", () => {
    assert.equal(formatDuration(undefined), "--");
    assert.equal(formatDuration(59.4), "59s");
    assert.equal(formatDuration(249), "4m09s");
    assert.equal(formatDuration(11_100), "3h05m");
  });
});
