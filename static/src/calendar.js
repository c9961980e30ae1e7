// Calendar pages (scheduling): the month/week/day calendar and the dispatch board (one day
// column per technician), both FullCalendar, both live.
//
// Events come from the JSON endpoint for the visible range (scoped on the server). A drag or a
// resize is only a proposal: the server re-validates it (conflicts, versions) and on refusal
// the event goes back where it was and the server's explanation is shown. Every open calendar
// follows its location's stream "calendar.<location public id>" through the portal socket
// (window.TandemRealtime): a change message or a fresh snapshot (after a gap or a reconnect)
// makes it refetch the range.
import { Calendar } from "@fullcalendar/core";
import dayGridPlugin from "@fullcalendar/daygrid";
import timeGridPlugin from "@fullcalendar/timegrid";
import interactionPlugin from "@fullcalendar/interaction";

const plugins = [dayGridPlugin, timeGridPlugin, interactionPlugin];
const REFETCH_DEBOUNCE_MS = 120;
// The move URL is rendered for a placeholder appointment; the real id replaces it.
const ZERO_ID = "00000000-0000-0000-0000-000000000000";

window.TandemCalendar = { Calendar, plugins };

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

function messageBox() {
  return document.getElementById("calendar-message");
}

function say(text, kind = "error") {
  const box = messageBox();
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

async function fetchEvents(url, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
  const response = await fetch(`${url}?${query}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`events: ${response.status}`);
  return response.json();
}

function toEvent(item) {
  return {
    id: item.id,
    title: item.title,
    start: item.start,
    end: item.end,
    url: item.url,
    backgroundColor: item.color,
    borderColor: item.color,
    textColor: item.text_color || "#fff",
    editable: item.editable,
    classNames: [`state-${item.state}`],
    extendedProps: {
      version: item.version,
      technician: item.technician,
      state: item.state,
      type: item.type,
    },
  };
}

// The server's answer to a move: the event's new version, or a refusal to explain.
async function proposeMove(template, event, changes) {
  const url = template.replace(ZERO_ID, event.id);
  const body = {
    start: changes.start,
    end: changes.end,
    version: event.extendedProps.version,
  };
  if (changes.technician !== undefined) body.technician = changes.technician;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body),
    });
  } catch {
    return { ok: false, message: "The move could not be sent. Check the connection and try again." };
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    // a proxy error page: fall through to the generic message
  }
  if (response.ok) return { ok: true, data };
  return {
    ok: false,
    message: data.error?.message || "The server refused the move. Nothing was changed.",
  };
}

// Follow the location's stream; `refetch` runs after every change and every new snapshot.
function followLive(root, stream, refetch) {
  const status = document.getElementById("calendar-live");
  const showState = () => {
    if (!status) return;
    const state = document.documentElement.dataset.realtime || "connecting";
    status.dataset.state = state;
    status.textContent =
      state === "connected" ? "Live" : state === "ended" ? "Not live (signed out)" : "Reconnecting…";
  };
  showState();
  new MutationObserver(showState).observe(document.documentElement, {
    attributes: true,
    attributeFilter: ["data-realtime"],
  });
  const realtime = window.TandemRealtime;
  if (!realtime || !stream) return;
  let timer = null;
  let snapshots = 0;
  realtime.subscribe(stream, (message) => {
    if (message.type === "snapshot") {
      snapshots += 1;
      // The first snapshot only sets the version; the range was fetched on mount.
      if (snapshots === 1) {
        root.dataset.liveVersion = String(message.version);
        return;
      }
    }
    clearTimeout(timer);
    timer = setTimeout(() => refetch(message.version), REFETCH_DEBOUNCE_MS);
  });
}

function baseOptions(el) {
  const data = el.dataset;
  return {
    plugins,
    timeZone: data.timezone || "local",
    nowIndicator: true,
    slotMinTime: data.slotMin || "06:00:00",
    slotMaxTime: data.slotMax || "21:00:00",
    slotDuration: "00:30:00",
    snapDuration: "00:15:00",
    allDaySlot: false,
    expandRows: true,
    height: "auto",
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    firstDay: 1,
    editable: data.canEdit === "true",
    eventStartEditable: data.canEdit === "true",
    eventDurationEditable: data.canEdit === "true",
  };
}

function narrow() {
  return window.matchMedia("(max-width: 40rem)").matches;
}

function filters(el) {
  const data = el.dataset;
  return { location: data.location, technician: data.technician, type: data.type };
}

// ------------------------------------------------------------------ month / week / day

function mountCalendar(el) {
  const data = el.dataset;
  let latest = [];
  const calendar = new Calendar(el, {
    ...baseOptions(el),
    initialView: data.view || "timeGridWeek",
    // Seven columns on a phone: one letter and the date fit, "Mon 11/23" does not.
    views: narrow()
      ? { timeGridWeek: { dayHeaderFormat: { weekday: "narrow", day: "numeric" } } }
      : {},
    initialDate: data.date || undefined,
    headerToolbar: {
      left: "prev,next today",
      center: "title",
      right: "dayGridMonth,timeGridWeek,timeGridDay",
    },
    // Text buttons: FullCalendar's arrow icons come from a data: font the CSP refuses.
    buttonIcons: false,
    buttonText: {
      prev: "‹ Previous",
      next: "Next ›",
      today: "Today",
      month: "Month",
      week: "Week",
      day: "Day",
    },
    dayMaxEvents: 4,
    events(info, success, failure) {
      fetchEvents(data.eventsUrl, { ...filters(el), start: info.startStr, end: info.endStr })
        .then((body) => {
          latest = body.events;
          el.dataset.loadedVersion = String(body.version ?? "");
          el.dataset.count = String(body.events.length);
          success(body.events.map(toEvent));
        })
        .catch((error) => {
          say("The calendar could not be loaded. It will try again when something changes.");
          failure(error);
        });
    },
    datesSet(info) {
      // Keep the filter form and the view links on the range being looked at.
      for (const input of document.querySelectorAll("[data-calendar-view-field]")) {
        input.value = info.view.type;
      }
      for (const input of document.querySelectorAll("[data-calendar-date-field]")) {
        input.value = info.view.currentStart.toISOString().slice(0, 10);
      }
    },
    async eventDrop(info) {
      await onMove(info, data.moveUrl);
    },
    async eventResize(info) {
      await onMove(info, data.moveUrl);
    },
    eventDidMount(info) {
      info.el.dataset.appointment = info.event.id;
      info.el.setAttribute(
        "aria-label",
        `${info.event.title}, ${info.event.start?.toISOString().slice(11, 16)} ${info.event.extendedProps.state}`
      );
    },
    select(info) {
      if (!data.bookUrl) return;
      const query = new URLSearchParams({ start: info.startStr, location: data.location || "" });
      window.location.assign(`${data.bookUrl}?${query}`);
    },
    selectable: Boolean(data.bookUrl),
  });
  calendar.render();
  el.tandemCalendar = calendar;
  followLive(el, data.stream, (version) => {
    el.dataset.liveVersion = String(version ?? "");
    calendar.refetchEvents();
  });
  return { calendar, latest: () => latest };
}

async function onMove(info, moveUrl, extra = {}) {
  say("");
  const result = await proposeMove(moveUrl, info.event, {
    start: info.event.startStr,
    end: info.event.endStr,
    ...extra,
  });
  if (!result.ok) {
    info.revert();
    say(result.message);
    return false;
  }
  info.event.setExtendedProp("version", result.data.version);
  say("Moved. Everyone's calendar shows the new time.", "ok");
  return true;
}

// ------------------------------------------------------------------ dispatch board

function mountDispatch(board) {
  const data = board.dataset;
  const columns = [...board.querySelectorAll("[data-dispatch-column]")];
  const calendars = [];
  // One request for the whole day; every column takes its technician's share.
  let day = null;
  const loadDay = (info) => {
    if (!day) {
      day = fetchEvents(data.eventsUrl, {
        location: data.location,
        type: data.type,
        start: info.startStr,
        end: info.endStr,
      });
    }
    return day;
  };
  const refetchAll = () => {
    day = null;
    calendars.forEach((c) => c.refetchEvents());
  };
  columns.forEach((column, index) => {
    const technician = column.dataset.technician || "";
    const target = column.querySelector("[data-dispatch-calendar]");
    const calendar = new Calendar(target, {
      ...baseOptions(board),
      initialView: "timeGridDay",
      initialDate: data.date,
      headerToolbar: false,
      dayHeaders: false,
      droppable: data.canEdit === "true",
      slotLabelContent: index === 0 ? undefined : () => "",
      events(info, success, failure) {
        loadDay(info)
          .then((body) => {
            const mine = body.events.filter((e) => (e.technician || "") === technician);
            column.dataset.count = String(mine.length);
            success(mine.map(toEvent));
          })
          .catch(failure);
      },
      async eventDrop(info) {
        await onMove(info, data.moveUrl);
      },
      async eventResize(info) {
        await onMove(info, data.moveUrl);
      },
      // Dropped here from another technician's column: a move with a new technician.
      async eventReceive(info) {
        const ok = await onMove(info, data.moveUrl, { technician: technician || null });
        refetchAll();
        return ok;
      },
      eventDidMount(info) {
        info.el.dataset.appointment = info.event.id;
      },
    });
    calendar.render();
    calendars.push(calendar);
  });
  followLive(board, data.stream, (version) => {
    board.dataset.liveVersion = String(version ?? "");
    refetchAll();
  });
}

// FullCalendar declares its icon font as a data: URL, which the CSP (font-src 'self') refuses
// with a console error on every page. The buttons use text instead, so drop the declaration.
function dropIconFont() {
  const sheet = document.querySelector("style[data-fullcalendar]")?.sheet;
  if (!sheet) return;
  for (let i = sheet.cssRules.length - 1; i >= 0; i -= 1) {
    const rule = sheet.cssRules[i];
    if (rule instanceof CSSFontFaceRule && rule.cssText.includes("fcicons")) sheet.deleteRule(i);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  dropIconFont();
  // Type colours come from the organization's settings; the CSP forbids style attributes.
  for (const swatch of document.querySelectorAll("[data-color]")) {
    swatch.style.backgroundColor = swatch.dataset.color;
  }
  for (const el of document.querySelectorAll("[data-calendar]")) mountCalendar(el);
  for (const el of document.querySelectorAll("[data-dispatch-board]")) mountDispatch(el);
});
