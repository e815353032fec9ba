/**
 * Records keyed by names that users give (jobs, nodes, levels, config
 * keys). Plain access is not safe for those: `record["constructor"]` reads
 * an inherited value where there is no entry, so `(record[key] ??= {})[x]
 * = y` writes onto it (with `__proto__`, into Object.prototype itself), and
 * `record["__proto__"] = y` replaces the record's prototype instead of
 * adding an entry. These helpers always make and read an own, enumerable
 * property, which JSON.stringify writes like any other.
 */

/** Sets the own property `key` of `record` to `value`. */
export function setOwn<T>(record: Record<string, T>, key: string, value: NoInfer<T>): void {
  // `__proto__` is the one accessor Object.prototype has; for any other key assignment makes an own property.
  if (key === '__proto__')
    Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

/** The own property `key` of `record`, first set to `make()` if there is none. */
export function ownChild<T>(record: Record<string, T>, key: string, make: () => NoInfer<T>): T {
  if (!Object.hasOwn(record, key)) setOwn(record, key, make());
  return record[key]!;
}
