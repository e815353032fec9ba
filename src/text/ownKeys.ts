/**
 * Records keyed by names that users give (jobs, nodes, levels, config
 * keys). Plain assignment is not safe for those: `record["__proto__"]`
 * reads the prototype, so `(record[key] ??= {})[x] = y` with the key
 * `__proto__` writes into Object.prototype, and `record["__proto__"] = y`
 * replaces the record's prototype instead of adding an entry. These
 * helpers always make and read an own, enumerable property, which
 * JSON.stringify writes like any other.
 */

/** Sets the own property `key` of `record` to `value`. */
export function setOwn<T>(record: Record<string, T>, key: string, value: NoInfer<T>): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The own property `key` of `record`, first set to `make()` if there is none. */
export function ownChild<T>(record: Record<string, T>, key: string, make: () => NoInfer<T>): T {
  if (!Object.hasOwn(record, key)) setOwn(record, key, make());
  return record[key]!;
}
