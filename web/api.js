// The page's calls to Floodgate's JSON API (src/http/api.ts): GETs, and the reset POST with its CSRF token.

/** An answer other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, init) {
  let response;
  try {
    response = await fetch(path, { cache: 'no-store', credentials: 'same-origin', ...init });
  } catch {
    throw new ApiError(0, 'Floodgate does not answer');
  }
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(response.status, (body && typeof body.error === 'string' && body.error) || `HTTP ${response.status}`);
  return body;
}

export const api = {
  status: () => call('/api/status'),
  timeline: () => call('/api/timeline'),
  recent: (limit) => call(`/api/recent?limit=${limit}`),
  top: (keyClass, limit) => call(`/api/top?limit=${limit}${keyClass ? `&class=${encodeURIComponent(keyClass)}` : ''}`),
  key: (key) => call(`/api/key?key=${encodeURIComponent(key)}`),
  /** A header another site cannot set, and JSON (which needs a preflight cross-origin): see api.ts. */
  reset: (key, csrf) => call('/api/reset', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ key }) }),
};
