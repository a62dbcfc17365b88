/**
 * Redaction of credential-looking strings from anything that could be printed (invariant 6).
 * The AWS SDK does not put secrets into its error messages, but a proxy, a custom endpoint or a
 * future SDK change might; this is the last line before text leaves the remotes layer.
 */

const MARK = '[redacted]';

/** Values in the environment that are secrets whenever they are set. */
const SECRET_ENV = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_ACCESS_KEY_ID'];

const PATTERNS: RegExp[] = [
  // Access key ids (long-term AKIA…, temporary ASIA…).
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  // SigV4 signatures and presigned-url credentials.
  /(Signature=)[0-9a-f]{64}/gi,
  /(X-Amz-Signature=)[0-9a-f]{64}/gi,
  /(X-Amz-Security-Token=)[^&\s"']+/gi,
  /(X-Amz-Credential=)[^&\s"']+/gi,
  // key: value / key=value forms of secrets.
  /((?:aws_)?secret_?access_?key|secretAccessKey|session_?token|sessionToken|security_?token)(["']?\s*[:=]\s*["']?)[^\s"',;&}]+/gi,
];

/** A 40-character base64 run with upper, lower and a digit: the shape of an AWS secret access key. */
const SECRET_SHAPE = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

/**
 * Replace credential-looking parts of `text` with "[redacted]".
 * @example redactSecrets('key AKIAIOSFODNN7EXAMPLE failed') // → 'key [redacted] failed'
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const name of SECRET_ENV) {
    const v = process.env[name];
    if (v && v.length >= 8) out = out.split(v).join(MARK);
  }
  for (const re of PATTERNS) {
    // Keep the captured label (and separator) so the text still says what was there.
    out = out.replace(re, (_m, p1: unknown, p2: unknown) =>
      typeof p1 !== 'string' ? MARK : typeof p2 === 'string' ? `${p1}${p2}${MARK}` : `${p1}${MARK}`);
  }
  out = out.replace(SECRET_SHAPE, (m) => (/[A-Z]/.test(m) && /[a-z]/.test(m) && /[0-9]/.test(m) ? MARK : m));
  return out;
}
