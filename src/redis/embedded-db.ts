import { Injectable } from '@nestjs/common';

/**
 * A table of the embedded database. Its name is what stores share: the session store reads the
 * users table in the same step that creates a session, as the Redis script reads the user record.
 * The row type is each reader's view of the table: a store declares the fields it relies on.
 */
export class EmbeddedTable<K, V> {
  /** Never set: carries K and V so that `EmbeddedDb.table` returns a typed map. */
  declare readonly rows?: Map<K, V>;

  constructor(readonly name: string) {}
}

/**
 * The data of the embedded mode (no REDIS_URL): what Redis holds otherwise, in this process only.
 * Every memory store keeps its rows here, so the stores of one app see one database, as they see
 * one Redis.
 */
@Injectable()
export class EmbeddedDb {
  private readonly tables = new Map<string, Map<unknown, unknown>>();

  table<K, V>(table: EmbeddedTable<K, V>): Map<K, V> {
    let rows = this.tables.get(table.name);
    if (!rows) {
      rows = new Map();
      this.tables.set(table.name, rows);
    }
    return rows as Map<K, V>;
  }
}
