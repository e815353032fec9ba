/**
 * Interns node names to small integers so statuses and resource budgets can
 * live in typed arrays indexed by name. Ids are never freed: a name keeps its
 * id for the life of the process (as in the original).
 */
export class NameInterner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  get size(): number {
    return this.names.length;
  }

  intern(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  /** The id, or -1 if the name was never interned. */
  lookup(name: string): number {
    return this.ids.get(name) ?? -1;
  }

  name(id: number): string {
    const name = this.names[id];
    if (name === undefined) throw new RangeError(`unknown name id ${id}`);
    return name;
  }
}
