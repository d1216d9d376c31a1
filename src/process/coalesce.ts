/**
 * coalesce turns an async job into a trigger that runs it one at a time: a trigger while it runs queues
 * exactly one more run, after the current one, however many triggers came meanwhile. For config reload:
 * SIGHUPs never load two configs at once, and the last file written is always the one that applies,
 * because the queued run reads it after every write that came before its trigger.
 *
 * `job` must not reject; it handles its own failures (a rejection would leave the trigger stuck).
 */
export function coalesce(job: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const trigger = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void job().finally(() => {
      running = false;
      if (again) {
        again = false;
        trigger();
      }
    });
  };
  return trigger;
}
