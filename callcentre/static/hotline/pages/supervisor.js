/* Supervision page and wallboard, live (docs/dashboards.md, "Supervisor wallboard").
 *
 * - Figures and charts: from the snapshot's data.wallboard, then from each {"type": "wallboard"}
 *   refresh the socket sends while figures move (at most once a second). The longest wait ticks
 *   here every second from queue.oldest_since. Charts are redrawn with Plotly.react.
 * - Counts by status: follow the lifecycle events one by one.
 * - The desk's lists (data.supervision): read again from the API when an event touches them.
 * - Actions (approve / deny an extension, escalate, reassign, dispatch a returned ticket) go
 *   through the API; the server's message is shown when it refuses, and nothing has changed.
 * No polling: everything moves because the socket said so. Texts come from the template.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-wallboard]");
  if (!root || !window.HotlineLive) return;
  var config = root.dataset;
  var texts = root.querySelector("[data-texts]").dataset;
  var language = document.documentElement.lang || undefined;
  var timeZone = config.timeZone || undefined;
  var wall = root.classList.contains("is-wall");
  if (wall) document.documentElement.classList.add("is-wall");

  var clockOffset = config.now ? Date.parse(config.now) - Date.now() : 0; // server time - this clock
  var oldestSince = null;

  // Figures ------------------------------------------------------------------------------------

  // The same keys and values as dashboards.wallboard_snapshots.wallboard_figures.
  var DECIMALS = {
    service_level: 1,
    average_speed_of_answer: 1,
    average_handle_time: 1,
    on_time_today: 1,
    on_time_week: 1,
    satisfaction_today: 1,
    satisfaction_week: 1,
  };

  function percent(rate) {
    return rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10;
  }

  function sum(rows, key) {
    return rows.reduce(function (total, row) {
      return total + row[key];
    }, 0);
  }

  function figures(w) {
    var queue = w.queue;
    var operators = queue.operators;
    var calls = w.calls;
    var rates = w.rates;
    return {
      waiting: queue.waiting,
      longest_wait: queue.longest_wait,
      logged_in: operators.logged_in,
      available: operators.available,
      on_call: operators.on_call,
      ringing: operators.ringing,
      paused: operators.paused,
      calls_today: calls.total,
      answered: calls.answered,
      abandoned: calls.abandoned,
      self_service: calls.self_service,
      in_progress: calls.in_progress,
      service_level: percent(calls.service_level.rate),
      average_speed_of_answer: calls.average_speed_of_answer,
      average_handle_time: calls.average_handle_time,
      tickets_today: w.tickets.total,
      open: sum(w.departments, "open"),
      overdue: sum(w.departments, "overdue"),
      on_time_today: percent(rates.today.on_time.rate),
      on_time_week: percent(rates.week.on_time.rate),
      satisfaction_today: percent(rates.today.satisfaction.rate),
      satisfaction_week: percent(rates.week.satisfaction.rate),
    };
  }

  function formatFigure(key, value) {
    if (value === null || value === undefined) return texts.none;
    return DECIMALS[key] ? Number(value).toFixed(DECIMALS[key]) : String(value);
  }

  function showFigures(values) {
    Object.keys(values).forEach(function (key) {
      var text = formatFigure(key, values[key]);
      root.querySelectorAll('[data-figure="' + key + '"]').forEach(function (element) {
        if (element.textContent !== text) element.textContent = text;
      });
    });
  }

  // The longest wait and the clock tick here, between refreshes.
  function tick() {
    var now = Date.now() + clockOffset;
    var wait = root.querySelector('[data-figure="longest_wait"]');
    if (wait) wait.textContent = oldestSince === null ? "0" : String(Math.max(0, Math.floor((now - oldestSince) / 1000)));
    var clock = root.querySelector("[data-clock]");
    if (clock) clock.textContent = formatTime(now);
  }

  function applyWallboard(w) {
    if (!w) return;
    oldestSince = w.queue.oldest_since ? Date.parse(w.queue.oldest_since) : null;
    showFigures(figures(w));
    tick();
    breakdown("by_kind", w.tickets.by_kind);
    breakdown("by_channel", w.tickets.by_channel);
    departments(w.departments);
    hot("categories", w.hot_topics.categories);
    hot("districts", w.hot_topics.districts);
    drawCharts(w);
  }

  function breakdown(key, rows) {
    var body = root.querySelector('[data-breakdown="' + key + '"] tbody');
    if (!body) return;
    replaceRows(
      body,
      rows.map(function (row) {
        return tr([td(row.label), td(String(row.count), "num")]);
      }),
    );
  }

  function departments(rows) {
    var body = root.querySelector("[data-departments]");
    replaceRows(
      body,
      rows.map(function (row) {
        var name = document.createElement("th");
        name.scope = "row";
        name.textContent = row.label;
        var line = tr([name, td(String(row.open), "num"), td(String(row.overdue), row.overdue ? "num overdue" : "num")]);
        if (row.overdue) line.classList.add("is-overdue");
        return line;
      }),
    );
    toggle(root.querySelector("[data-departments-empty]"), rows.length === 0);
  }

  function hot(key, rows) {
    replaceRows(
      root.querySelector('[data-hot="' + key + '"]'),
      rows.map(function (row) {
        return tr([td(row.label), td(String(row.count), "num"), td(String(row.previous), "num")]);
      }),
    );
    toggle(root.querySelector('[data-hot-empty="' + key + '"]'), rows.length === 0);
  }

  // Charts (Plotly, from the plotly Python package) --------------------------------------------

  function css(name) {
    return window.getComputedStyle(root).getPropertyValue(name).trim();
  }

  function palette() {
    return css("--chart-palette")
      .split(",")
      .map(function (colour) {
        return colour.trim();
      })
      .filter(Boolean);
  }

  function baseLayout() {
    var ink = css("--ink");
    return {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: ink, size: wall ? 18 : 13 },
      margin: { t: 10, r: 10, b: 10, l: 10 },
      showlegend: false,
      xaxis: { automargin: true, color: ink, gridcolor: css("--line"), fixedrange: true },
      yaxis: { automargin: true, color: ink, gridcolor: css("--line"), rangemode: "tozero", fixedrange: true },
    };
  }

  var PLOT_CONFIG = { displayModeBar: false, displaylogo: false, responsive: true };

  function plot(key, traces, layout) {
    var element = root.querySelector('[data-chart="' + key + '"]');
    if (!element || !window.Plotly) return;
    window.Plotly.react(element, traces, layout, PLOT_CONFIG);
  }

  function drawCharts(w) {
    var colours = palette();
    var kinds = w.tickets.by_kind;
    var kindLayout = baseLayout();
    kindLayout.yaxis.title = { text: texts.ticketsAxis };
    wholeTicks(kindLayout.yaxis, pluck(kinds, "count"));
    plot(
      "by_kind",
      [
        {
          type: "bar",
          x: pluck(kinds, "label"),
          y: pluck(kinds, "count"),
          marker: { color: colours },
          hovertemplate: "%{x}: %{y}<extra></extra>",
        },
      ],
      kindLayout,
    );

    var channels = w.tickets.by_channel.filter(function (row) {
      return row.count > 0;
    });
    var pieLayout = baseLayout();
    pieLayout.showlegend = true;
    pieLayout.legend = { orientation: "h" };
    if (!channels.length) {
      pieLayout.annotations = [{ text: texts.noTickets, showarrow: false, font: { size: wall ? 20 : 14 } }];
    }
    plot(
      "by_channel",
      [
        {
          type: "pie",
          labels: pluck(channels, "label"),
          values: pluck(channels, "count"),
          marker: { colors: colours },
          hole: 0.45,
          sort: false,
          textinfo: "value",
          hovertemplate: "%{label}: %{value} (%{percent})<extra></extra>",
        },
      ],
      pieLayout,
    );

    // Horizontal bars: department names are long. The most overdue first, at the top.
    var rows = w.departments.slice(0, wall ? 12 : 15);
    var departmentLayout = baseLayout();
    departmentLayout.barmode = "group";
    departmentLayout.showlegend = true;
    departmentLayout.legend = { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" };
    departmentLayout.yaxis.autorange = "reversed";
    departmentLayout.yaxis.gridcolor = "rgba(0,0,0,0)";
    departmentLayout.xaxis.rangemode = "tozero";
    wholeTicks(departmentLayout.xaxis, pluck(rows, "open"));
    var chart = root.querySelector('[data-chart="departments"]');
    if (chart) chart.style.height = Math.max(200, 70 + rows.length * (wall ? 34 : 30)) + "px";
    plot(
      "departments",
      [
        {
          type: "bar",
          orientation: "h",
          name: texts.open,
          y: pluck(rows, "label"),
          x: pluck(rows, "open"),
          marker: { color: css("--chart-1") },
          hovertemplate: "%{y}: %{x}<extra>" + texts.open + "</extra>",
        },
        {
          type: "bar",
          orientation: "h",
          name: texts.overdue,
          y: pluck(rows, "label"),
          x: pluck(rows, "overdue"),
          marker: { color: css("--chart-danger") },
          hovertemplate: "%{y}: %{x}<extra>" + texts.overdue + "</extra>",
        },
      ],
      departmentLayout,
    );
  }

  // Counts are whole numbers: no tick at 0.5, whatever the largest.
  function wholeTicks(axis, values) {
    var largest = Math.max.apply(null, [0].concat(values));
    axis.tickformat = "d";
    axis.dtick = Math.max(1, Math.ceil(largest / 6));
  }

  // Counts by status ----------------------------------------------------------------------------

  var tiles = {};
  root.querySelectorAll(".tile[data-status]").forEach(function (tile) {
    tiles[tile.dataset.status] = tile.querySelector("dd");
  });

  function setCount(status, count) {
    if (tiles[status]) tiles[status].textContent = String(count);
  }

  function bump(status, by) {
    if (tiles[status]) setCount(status, Number(tiles[status].textContent) + by);
  }

  // The desk's lists ------------------------------------------------------------------------------

  var LISTS = ["extensions", "returned", "overdue", "escalations"];
  var WATCHED_STATUSES = ["returned", "extension_requested"];
  var WATCHED_EVENTS = ["ticket.escalated", "ticket.return_flagged", "ticket.reassign"];
  var shown = {}; // ticket numbers on the lists

  function applyLists(lists) {
    if (!lists) return;
    shown = {};
    LISTS.forEach(function (key) {
      var rows = lists[key] || [];
      rows.forEach(function (row) {
        shown[row.number] = true;
      });
      replaceRows(root.querySelector('[data-list="' + key + '"]'), rows.map(RENDER[key]));
      var count = root.querySelector('[data-list-count="' + key + '"]');
      if (count) count.textContent = String(rows.length);
      toggle(root.querySelector('[data-list-empty="' + key + '"]'), rows.length === 0);
    });
  }

  function touchesLists(name, payload) {
    if (WATCHED_EVENTS.indexOf(name) >= 0 || shown[payload.ticket]) return true;
    if (WATCHED_STATUSES.indexOf(payload.status) >= 0 || WATCHED_STATUSES.indexOf(payload.from) >= 0) return true;
    // A ticket a department holds with its deadline already past belongs on the overdue list.
    return !!(payload.deadline && Date.parse(payload.deadline) < Date.now() + clockOffset && payload.department);
  }

  // At most one read a second; a change during a read is read again afterwards.
  var listsTimer = null;
  var listsBusy = false;
  var listsAgain = false;

  function refreshLists(delay) {
    if (listsBusy) {
      listsAgain = true;
      return;
    }
    if (listsTimer !== null) return;
    listsTimer = window.setTimeout(readLists, delay === undefined ? 1000 : delay);
  }

  function readLists() {
    listsTimer = null;
    listsBusy = true;
    fetch(config.supervisionUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(applyLists)
      .catch(function () {
        live.resync(); // the lists could not be read: take the whole state again
      })
      .then(function () {
        listsBusy = false;
        if (listsAgain) {
          listsAgain = false;
          refreshLists();
        }
      });
  }

  var RENDER = {
    extensions: function (t) {
      var row = ticketRow(t);
      row.appendChild(td(t.lead_department_name || texts.none));
      row.appendChild(td(formatDateTime(t.deadline)));
      row.appendChild(td(formatDateTime(t.extension && t.extension.until)));
      row.appendChild(td((t.extension && t.extension.reason) || texts.none));
      row.appendChild(actions([button("approve", t.number, texts.approve), button("deny", t.number, texts.deny, true)]));
      if (t.overdue) row.classList.add("is-overdue");
      return row;
    },
    returned: function (t) {
      var row = ticketRow(t, t.flagged ? texts.flagged : null);
      var info = t["return"] || {};
      row.appendChild(td(t.kind_display));
      row.appendChild(td(String(t.return_count), "num"));
      row.appendChild(td(info.department_name || texts.none));
      var reason = td(info.reason || texts.none);
      if (info.note) {
        reason.appendChild(document.createElement("br"));
        reason.appendChild(span(info.note, "empty"));
      }
      row.appendChild(reason);
      row.appendChild(td(info.responsible_name || texts.none));
      row.appendChild(td(formatDateTime(info.at)));
      row.appendChild(td(t.title || texts.none));
      var dispatch = button("dispatch", t.number, texts.dispatch);
      dispatch.dataset.department = info.responsible ? String(info.responsible) : "";
      row.appendChild(actions([dispatch]));
      return row;
    },
    overdue: function (t) {
      var row = ticketRow(t, t.escalated ? texts.escalated : null);
      row.classList.add("is-overdue");
      row.appendChild(td(t.kind_display));
      row.appendChild(td("")).appendChild(span(t.status_display, "badge"));
      row.appendChild(td(t.lead_department_name || texts.none));
      row.appendChild(td(formatDateTime(t.deadline)));
      row.appendChild(td("")).appendChild(span(overdueBy(t.deadline), "overdue"));
      row.appendChild(td(t.title || texts.none));
      var buttons = [];
      if (!t.escalated) buttons.push(button("escalate", t.number, texts.escalate));
      if (t.status !== "extension_requested") buttons.push(button("reassign", t.number, texts.reassign, true));
      row.appendChild(actions(buttons));
      return row;
    },
    escalations: function (t) {
      var row = ticketRow(t);
      var escalation = t.escalation || {};
      if (t.overdue) row.classList.add("is-overdue");
      row.appendChild(td("")).appendChild(span(t.status_display, "badge"));
      row.appendChild(td(t.lead_department_name || texts.none));
      row.appendChild(td(formatDateTime(t.deadline)));
      row.appendChild(td(formatDateTime(escalation.created_at)));
      row.appendChild(td(escalation.created_by || texts.none));
      row.appendChild(td(escalation.note || ""));
      return row;
    },
  };

  function ticketRow(t, flag) {
    var row = document.createElement("tr");
    row.dataset.number = t.number;
    var cell = td("", "num");
    var link = document.createElement("a");
    link.href = withNumber(config.ticketUrl, t.number);
    link.textContent = t.number;
    cell.appendChild(link);
    if (flag) {
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(span(flag, "badge badge-danger"));
    }
    row.appendChild(cell);
    return row;
  }

  function button(action, number, label, quiet) {
    var element = document.createElement("button");
    element.type = "button";
    element.dataset.action = action;
    element.dataset.number = number;
    element.textContent = label;
    if (quiet) element.className = "button-quiet";
    return element;
  }

  function actions(buttons) {
    var cell = td("", "actions");
    buttons.forEach(function (element, index) {
      if (index) cell.appendChild(document.createTextNode(" "));
      cell.appendChild(element);
    });
    return cell;
  }

  // Actions ---------------------------------------------------------------------------------------

  var dialog = root.querySelector("[data-action-dialog]");
  var form = root.querySelector("[data-action-form]");
  var statusLine = root.querySelector("[data-action-status]");
  var current = null; // {action, number}

  // action -> the API endpoint (a URL for ticket "0") and the fields its body takes
  var ACTIONS = {
    approve: { url: config.approveUrl, department: false, noteRequired: false },
    deny: { url: config.denyUrl, department: false, noteRequired: true },
    escalate: { url: config.escalateUrl, department: false, noteRequired: true },
    reassign: { url: config.reassignUrl, department: true, noteRequired: true },
    dispatch: { url: config.dispatchUrl, department: true, noteRequired: false },
  };

  function openAction(action, number, department) {
    if (!dialog || !ACTIONS[action]) return;
    var spec = ACTIONS[action];
    current = { action: action, number: number };
    form.reset();
    clearErrors();
    form.elements.number.value = number;
    root.querySelector("[data-action-title]").textContent = fill(texts["title" + capital(action)], number);
    root.querySelector('[data-field="department"]').hidden = !spec.department;
    // No department chosen: a dispatch takes the routing suggestion; a reassignment must name one.
    form.elements.department.options[0].textContent = action === "dispatch" ? texts.suggested : texts.chooseDepartment;
    if (spec.department && department) form.elements.department.value = department;
    root.querySelector("[data-note-label]").textContent = spec.noteRequired ? texts.noteRequired : texts.noteOptional;
    form.elements.note.required = spec.noteRequired;
    root.querySelector("[data-action-submit]").textContent = texts[action];
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    (spec.department ? form.elements.department : form.elements.note).focus();
  }

  function closeAction() {
    current = null;
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  }

  function submitAction() {
    if (!current) return;
    var spec = ACTIONS[current.action];
    var done = current;
    var body = { note: form.elements.note.value };
    // Left out when none is chosen: a dispatch then takes the suggestion, a reassignment asks for one.
    if (spec.department && form.elements.department.value) body.department = Number(form.elements.department.value);
    clearErrors();
    var submit = root.querySelector("[data-action-submit]");
    submit.disabled = true;
    fetch(withNumber(spec.url, current.number), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": form.elements.csrfmiddlewaretoken.value,
      },
      body: JSON.stringify(body),
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (!response.ok) {
              showErrors((data && data.error) || { message: texts.failed });
              return;
            }
            closeAction();
            say(fill(texts["done" + capital(done.action)], done.number));
            refreshLists(0);
          });
      })
      .catch(function () {
        showErrors({ message: texts.failed });
      })
      .then(function () {
        submit.disabled = false;
      });
  }

  function showErrors(error) {
    var alert = root.querySelector("[data-action-error]");
    alert.textContent = error.message || texts.failed;
    alert.hidden = false;
    var fields = error.fields || {};
    Object.keys(fields).forEach(function (name) {
      var list = root.querySelector('[data-errors="' + name + '"]');
      if (!list) return;
      list.textContent = "";
      [].concat(fields[name]).forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      });
      list.hidden = false;
      var input = form.elements[name];
      if (input) input.setAttribute("aria-invalid", "true");
    });
  }

  function clearErrors() {
    var alert = root.querySelector("[data-action-error]");
    alert.hidden = true;
    alert.textContent = "";
    root.querySelectorAll("[data-errors]").forEach(function (list) {
      list.hidden = true;
      list.textContent = "";
    });
    ["department", "note"].forEach(function (name) {
      form.elements[name].removeAttribute("aria-invalid");
    });
  }

  function say(message) {
    if (!statusLine) return;
    statusLine.textContent = message;
    statusLine.hidden = false;
  }

  if (dialog) {
    root.addEventListener("click", function (event) {
      var target = event.target.closest("button[data-action]");
      if (target && root.contains(target)) openAction(target.dataset.action, target.dataset.number, target.dataset.department);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submitAction();
    });
    root.querySelector("[data-action-cancel]").addEventListener("click", closeAction);
  }

  var actForm = root.querySelector("[data-act-form]");
  if (actForm) {
    var chosen = "escalate";
    actForm.querySelectorAll("button[name=action]").forEach(function (element) {
      element.addEventListener("click", function () {
        chosen = element.value;
      });
    });
    actForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var action = (event.submitter && event.submitter.value) || chosen;
      var number = actForm.elements.number.value.trim();
      if (!number) {
        say(texts.numberMissing);
        actForm.elements.number.focus();
        return;
      }
      openAction(action, number);
    });
  }

  // Big-screen mode ---------------------------------------------------------------------------

  var fullscreen = root.querySelector("[data-fullscreen]");
  if (fullscreen && document.fullscreenEnabled) {
    fullscreen.hidden = false;
    fullscreen.addEventListener("click", function () {
      if (document.fullscreenElement) document.exitFullscreen();
      else document.documentElement.requestFullscreen();
    });
  }

  // The connection ----------------------------------------------------------------------------

  var live = HotlineLive.connect({
    view: "supervisor",
    onSnapshot: function (data, snapshot) {
      if (snapshot.now) clockOffset = Date.parse(snapshot.now) - Date.now();
      var counts = data.tickets ? data.tickets.status_counts : {};
      for (var status in counts) setCount(status, counts[status]);
      applyWallboard(data.wallboard);
      applyLists(data.supervision);
    },
    onEvent: function (name, payload) {
      if (!payload) return;
      // Lifecycle events (ticket.<action>) move one ticket from `from` to `status`; other ticket
      // events (reminders, escalations, flags) change no count.
      if (name === "ticket." + payload.action && payload.from !== payload.status) {
        bump(payload.from, -1);
        bump(payload.status, 1);
      }
      if (name.indexOf("ticket.") === 0 && touchesLists(name, payload)) refreshLists();
    },
  });
  live.onMessage("wallboard", function (message) {
    applyWallboard(message.data);
  });

  // The server-rendered figures until the snapshot comes: the wait ticks, the charts are drawn.
  var initial = document.getElementById("wallboard-data");
  if (initial) applyWallboard(JSON.parse(initial.textContent));
  window.setInterval(tick, 1000);

  // Helpers ---------------------------------------------------------------------------------------

  function tr(cells) {
    var row = document.createElement("tr");
    cells.forEach(function (cell) {
      row.appendChild(cell);
    });
    return row;
  }

  function td(text, className) {
    var cell = document.createElement("td");
    if (className) cell.className = className;
    cell.textContent = text;
    return cell;
  }

  function span(text, className) {
    var element = document.createElement("span");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function replaceRows(body, rows) {
    if (!body) return;
    body.textContent = "";
    rows.forEach(function (row) {
      body.appendChild(row);
    });
  }

  function toggle(element, show) {
    if (element) element.hidden = !show;
  }

  function pluck(rows, key) {
    return rows.map(function (row) {
      return row[key];
    });
  }

  function capital(word) {
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  function fill(template, number) {
    return (template || "").replace("%(number)s", number);
  }

  // The page gives URLs for ticket "0" (/api/tickets/0/approve-extension/); put the number in its place.
  function withNumber(url, number) {
    return url.replace("/0/", "/" + encodeURIComponent(number) + "/");
  }

  function formatDateTime(iso) {
    if (!iso) return texts.none;
    try {
      return new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "short", timeZone: timeZone }).format(
        new Date(iso),
      );
    } catch (error) {
      return iso;
    }
  }

  function formatTime(ms) {
    try {
      return new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: timeZone }).format(
        new Date(ms),
      );
    } catch (error) {
      return new Date(ms).toLocaleTimeString();
    }
  }

  function overdueBy(iso) {
    var late = Date.now() + clockOffset - Date.parse(iso);
    var units = [
      ["day", 86400000],
      ["hour", 3600000],
      ["minute", 60000],
    ];
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(late / units[i][1]);
      if (count >= 1 || i === units.length - 1) {
        var amount;
        try {
          amount = new Intl.NumberFormat(language, { style: "unit", unit: units[i][0], unitDisplay: "long" }).format(
            Math.max(count, 0),
          );
        } catch (error) {
          amount = String(Math.max(count, 0)) + " " + units[i][0];
        }
        return texts.overdueBy + " " + amount;
      }
    }
    return texts.overdue;
  }
})();
