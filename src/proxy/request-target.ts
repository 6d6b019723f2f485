// Request targets: what the app is sent, and the path and query of an absolute-form one.

/** The request target as the app expects it: origin-form (`/path?query`), or `*`. */
export function originForm(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/') || url === '*') return url;
  return absoluteFormPath(url) ?? `/${url}`;
}

/** The path and query of an absolute-form target (`GET http://host/path`, which only proxies are sent); null when it is no URL. */
export function absoluteFormPath(target: string): string | null {
  try {
    const parsed = new URL(target);
    return parsed.pathname + parsed.search;
  } catch {
    return null;
  }
}
