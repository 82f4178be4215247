/**
 * `db.system.name` from the SQL drivers a Go binary links: when exactly one
 * known driver package is linked in, every database/sql span of that
 * program is for that system. (The driver a `sql.DB` uses is not read at
 * run time; a program linking several known drivers gets none.)
 * @module
 */

/** Driver package path prefixes (as they appear in symbol names) → semantic-convention `db.system.name`. */
export const KNOWN_SQL_DRIVERS: readonly [string, string][] = [
  ["github.com/lib/pq.", "postgresql"],
  ["github.com/jackc/pgx/", "postgresql"],
  ["github.com/go-sql-driver/mysql.", "mysql"],
  ["github.com/mattn/go-sqlite3.", "sqlite"],
  ["modernc.org/sqlite.", "sqlite"],
  ["github.com/denisenkom/go-mssqldb.", "microsoft.sql_server"],
  ["github.com/microsoft/go-mssqldb.", "microsoft.sql_server"],
  ["github.com/sijms/go-ora/", "oracle.db"],
  ["github.com/ClickHouse/clickhouse-go/", "clickhouse"],
];

/** The one database system the symbol names point at, or undefined (none, or several). */
export function dbSystemOf(symbolNames: Iterable<string>): string | undefined {
  const found = new Set<string>();
  for (const name of symbolNames) {
    for (const [prefix, system] of KNOWN_SQL_DRIVERS) if (name.startsWith(prefix)) found.add(system);
  }
  return found.size === 1 ? [...found][0] : undefined;
}
