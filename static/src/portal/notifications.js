// The notification bell: filled in by the events work.
export function startNotifications() {}
