/** Quotes a path for a shell command shown in a hint (`trove add 'my data'`); plain names stay as they are. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
