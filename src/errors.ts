/**
 * Error helpers: every message names the op, the argument (its public name), what was expected and
 * what was received (SPEC §5, STYLE §6). Wrong kind/dtype/rank -> TypeError; bad value, shape
 * mismatch or out-of-range index -> RangeError.
 */

/** Short description of a value for error messages: `Float32Array(12)`, `number 3.5`, `undefined`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    return value instanceof DataView ? name : `${name}(${Reflect.get(value, 'length')})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (typeof value === 'string') return `string '${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
  return typeof value;
}

export function typeError(op: string, message: string): TypeError {
  return new TypeError(`${op}: ${message}`);
}

export function rangeError(op: string, message: string): RangeError {
  return new RangeError(`${op}: ${message}`);
}

/**
 * A list for an error message, cut short: the first `max` items, then `... and N more (T in all)`.
 * Keeps a message readable when a config with L = 1000 misses thousands of tensors.
 */
export function summariseList(items: readonly string[], max = 8, sep = ', '): string {
  if (items.length <= max) return items.join(sep);
  return `${items.slice(0, max).join(sep)}${sep}... and ${items.length - max} more (${items.length} in all)`;
}
