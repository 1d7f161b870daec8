/**
 * Event ids seen lately, to answer a repeat delivery once: Slack gives every command invocation and
 * button press its own `trigger_id`, and an envelope delivered again (a Socket Mode reconnect
 * before the ack arrived) carries the same one; Discord's interaction ids do the same after a
 * gateway resume. A repeat must not make a second job.
 */
export class RecentIds {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 30 * 60_000,
    private readonly max = 10_000,
  ) {}

  /** Records `id`; false when it was already seen within the time to live. */
  firstTime(id: string | undefined, now = Date.now()): boolean {
    if (!id) return true;
    const at = this.seen.get(id);
    if (at !== undefined && now - at < this.ttlMs) return false;
    this.seen.delete(id);
    this.seen.set(id, now);
    // Oldest first in insertion order: drop the expired and anything past the cap.
    for (const [old, when] of this.seen) {
      if (this.seen.size <= this.max && now - when < this.ttlMs) break;
      this.seen.delete(old);
    }
    return true;
  }
}
