/**
 * The queue's one error class, in a file of its own so the CLI can recognise it without loading
 * BullMQ or ioredis.
 */

/** A queue-level failure with a one-line message (bad URL, Redis unreachable, unwritable output). */
export class QueueError extends Error {
  override name = 'QueueError';
}
