// The notification bell: unread badge, latest items, desktop alerts. Fed by the realtime
// stream "notifications" (snapshot, notification.created, notification.read).

const SNAPSHOT_GRACE_MS = 4000;
const MAX_ITEMS = 10;

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

function timeAgo(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return new Date(iso).toLocaleDateString();
}

function desktopAlertsSupported() {
  return "Notification" in window && window.isSecureContext !== false;
}

function setUpDesktopAlertButtons() {
  const buttons = document.querySelectorAll("[data-desktop-alerts]");
  if (!desktopAlertsSupported()) return;
  const refresh = () => {
    for (const button of buttons) button.hidden = Notification.permission !== "default";
  };
  for (const button of buttons) {
    button.addEventListener("click", async () => {
      // Browsers only allow the permission prompt from a user's click.
      try {
        await Notification.requestPermission();
      } finally {
        refresh();
      }
    });
  }
  refresh();
}

function showDesktopAlert(item) {
  if (!desktopAlertsSupported() || Notification.permission !== "granted") return;
  // The tag makes every open tab show the same alert once instead of once per tab.
  const alert = new Notification(item.title, { body: item.body || "", tag: item.public_id });
  alert.addEventListener("click", () => {
    window.focus();
    if (item.url) window.location.assign(item.url);
    alert.close();
  });
}

export function startNotifications(realtime) {
  setUpDesktopAlertButtons();
  const bell = document.getElementById("bell");
  if (!bell) return null;
  const button = document.getElementById("bell-button");
  const count = document.getElementById("bell-count");
  const panel = document.getElementById("bell-panel");
  const list = document.getElementById("bell-list");
  const empty = document.getElementById("bell-empty");
  const announce = document.getElementById("bell-announce");
  const readUrl = (id) => bell.dataset.readUrlTemplate.replace("ID", id);
  let items = [];
  let unread = 0;

  function renderCount() {
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
    count.dataset.count = String(unread);
    button.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  }

  function renderItem(item) {
    const li = document.createElement("li");
    li.className = item.read ? "bell-item" : "bell-item is-unread";
    const form = document.createElement("form");
    form.method = "post";
    form.action = readUrl(item.public_id);
    for (const [name, value] of [["csrfmiddlewaretoken", csrfToken()], ["open", "1"]]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    const open = document.createElement("button");
    open.type = "submit";
    open.className = "bell-item-button";
    const title = document.createElement("span");
    title.className = "bell-item-title";
    title.textContent = item.title;
    open.append(title);
    if (item.body) {
      const body = document.createElement("span");
      body.className = "bell-item-body";
      body.textContent = item.body;
      open.append(body);
    }
    const when = document.createElement("time");
    when.className = "bell-item-time";
    when.dateTime = item.created_at;
    when.textContent = timeAgo(item.created_at);
    open.append(when);
    form.append(open);
    li.append(form);
    return li;
  }

  // On the /notifications page: keep the summary right and offer the rows that came in.
  function renderListPage(created) {
    const summary = document.getElementById("notifications-summary");
    if (summary) summary.textContent = unread ? `${unread} unread` : "All caught up";
    const fresh = document.getElementById("notifications-fresh");
    if (fresh && created) fresh.hidden = false;
  }

  function render() {
    renderCount();
    list.replaceChildren(...items.map(renderItem));
    empty.hidden = items.length > 0;
  }

  function onMessage(message) {
    if (message.type === "snapshot") {
      items = (message.items || []).slice(0, MAX_ITEMS);
      unread = message.unread || 0;
    } else if (message.type === "notification.created") {
      const item = { read: false, ...message.notification };
      items = [item, ...items.filter((i) => i.public_id !== item.public_id)].slice(0, MAX_ITEMS);
      unread = message.unread;
      announce.textContent = `New notification: ${item.title}`;
      showDesktopAlert(item);
    } else if (message.type === "notification.read") {
      const ids = new Set(message.public_ids || []);
      items = items.map((i) => (message.all || ids.has(i.public_id) ? { ...i, read: true } : i));
      unread = message.unread;
    } else {
      return;
    }
    if (message.type === "snapshot") bell.dataset.ready = "true";
    render();
    renderListPage(message.type === "notification.created");
  }

  function setOpen(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) for (const time of list.querySelectorAll("time")) time.textContent = timeAgo(time.dateTime);
  }

  button.addEventListener("click", (event) => {
    event.preventDefault();
    setOpen(panel.hidden);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !bell.contains(event.target)) setOpen(false);
  });

  async function fetchSnapshot() {
    try {
      const response = await fetch(bell.dataset.snapshotUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const data = await response.json();
      if (realtime) realtime.offerSnapshot("notifications", data);
      else onMessage({ type: "snapshot", ...data });
    } catch {
      // Offline: the socket's snapshot will fill the bell when it connects.
    }
  }

  if (realtime) {
    realtime.subscribe("notifications", onMessage);
    // If the socket is slow or blocked, start the bell from the HTTP snapshot instead.
    setTimeout(() => {
      if (realtime.version("notifications") === undefined) fetchSnapshot();
    }, SNAPSHOT_GRACE_MS);
  } else {
    fetchSnapshot();
  }
  render();
  return { refresh: fetchSnapshot };
}
