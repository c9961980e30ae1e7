// Idle logout: filled in by the sign-in work.
export function startIdleWatch() {}
