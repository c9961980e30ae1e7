// The realtime client: filled in by the events work.
export function startRealtime() { return null; }
