/** Quote a user-supplied string for an error message, cut short so a hostile megabyte never lands in a log. */
export function quote(s: string, max = 80): string {
  const cut = s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
  return JSON.stringify(cut);
}
