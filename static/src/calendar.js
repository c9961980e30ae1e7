// Calendar pages (scheduling) mount FullCalendar through this bundle.
import { Calendar } from "@fullcalendar/core";
import dayGridPlugin from "@fullcalendar/daygrid";
import timeGridPlugin from "@fullcalendar/timegrid";
import interactionPlugin from "@fullcalendar/interaction";

window.TandemCalendar = { Calendar, plugins: [dayGridPlugin, timeGridPlugin, interactionPlugin] };
