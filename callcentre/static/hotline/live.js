/* Live updates for the dashboard pages: one websocket per page, a snapshot, then numbered deltas.
 *
 * The protocol is in docs/dashboards.md. A page loads this file, then its own script:
 *
 *   const live = HotlineLive.connect({
 *     view: "department",                        // the view the page shows (the socket's ?view=)
 *     onSnapshot(data, snapshot) { ... },        // replace what the page shows with data
 *     onEvent(name, payload, message) { ... },   // apply one change; called once per event, in order
 *     onState(state) { ... },                    // optional: see STATES below
 *   });
 *   live.on("ticket.dispatch", (payload, message) => { ... });  // more handlers, from any script
 *   live.onSnapshot((data, snapshot) => { ... });
 *   live.onMessage("wallboard", (message) => { ... });  // a view's own messages (not events: no stream)
 *   live.resync();                               // ask for a fresh snapshot (e.g. after a failed fetch)
 *
 * Events come in order and each exactly once between two snapshots. When one is missing (its
 * stream's number jumps, or a heartbeat says the stream is further on) the page is resynced:
 * onSnapshot runs again with the whole state. After a drop the socket reconnects by itself
 * (backoff with jitter) and starts with a snapshot. While the page is not live, the banner of
 * base.html says so, in the page's language (texts in its data attributes).
 */
(function () {
  "use strict";

  // connecting: opening, no snapshot yet; live: up to date; resyncing: waiting for a fresh
  // snapshot; offline: disconnected, retrying; signed-out / forbidden: final, no retry.
  var STATES = ["connecting", "live", "resyncing", "offline", "signed-out", "forbidden"];
  var FINAL_CLOSE_CODES = { 4400: "forbidden", 4401: "signed-out", 4403: "forbidden" };
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 30000;
  var CONNECT_TIMEOUT_MS = 15000;
  var RESYNC_TIMEOUT_MS = 10000;
  var BANNER_DELAY_MS = 1000; // a quick connect or resync does not flash the banner

  function Live(options) {
    if (!options || !options.view) throw new Error("HotlineLive.connect needs a view");
    this.view = options.view;
    this.url = options.url || defaultUrl(options.view);
    this.snapshotHandlers = options.onSnapshot ? [options.onSnapshot] : [];
    this.eventHandlers = {};
    this.anyEventHandlers = options.onEvent ? [options.onEvent] : [];
    this.stateHandlers = options.onState ? [options.onState] : [];
    this.messageHandlers = {}; // message type -> handlers, for a view's own messages (e.g. "wallboard")
    this.banner = new Banner(document.getElementById("live-banner"), this);
    this.state = null;
    this.socket = null;
    this.attempt = 0;
    this.seqs = {}; // stream -> last number applied
    this.expected = {}; // stream -> number a heartbeat announced that has not arrived yet
    this.lastId = 0; // global id of the last event applied (an event sent to two streams comes twice)
    this.heartbeatMs = 0;
    this.timers = {};
    this.stopped = false;
    var self = this;
    window.addEventListener("online", function () {
      if (self.state === "offline") self.reconnectNow();
    });
    // Leaving the page closes the socket: that is not "offline". Coming back to it from the
    // browser's history (back/forward cache) opens a new one.
    window.addEventListener("pagehide", function () {
      self.close();
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        self.stopped = false;
        self.reconnectNow();
      }
    });
    this.open();
  }

  Live.prototype.on = function (eventName, handler) {
    if (eventName === "*") this.anyEventHandlers.push(handler);
    else (this.eventHandlers[eventName] = this.eventHandlers[eventName] || []).push(handler);
    return this;
  };

  Live.prototype.onSnapshot = function (handler) {
    this.snapshotHandlers.push(handler);
    return this;
  };

  // Messages a view sends besides the protocol's own, e.g. the supervisor's {"type": "wallboard"}
  // refresh: whole parts that replace what the page shows, carrying no stream number.
  Live.prototype.onMessage = function (type, handler) {
    (this.messageHandlers[type] = this.messageHandlers[type] || []).push(handler);
    return this;
  };

  Live.prototype.onState = function (handler) {
    this.stateHandlers.push(handler);
    if (this.state) handler(this.state);
    return this;
  };

  Live.prototype.resync = function () {
    if (this.state !== "live" || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    this.setState("resyncing");
    this.socket.send(JSON.stringify({ type: "resync" }));
    var self = this;
    this.later("resync", RESYNC_TIMEOUT_MS, function () {
      self.drop(); // no snapshot came: start over on a new socket
    });
  };

  Live.prototype.reconnectNow = function () {
    if (this.stopped) return;
    this.clear("reconnect");
    this.attempt = 0;
    this.open();
  };

  Live.prototype.close = function () {
    this.stopped = true;
    this.clearAll();
    if (this.socket) {
      detach(this.socket);
      this.socket.close(1000);
      this.socket = null;
    }
  };

  // Connection ---------------------------------------------------------------------------------

  Live.prototype.open = function () {
    if (this.stopped) return;
    if (this.socket) {
      detach(this.socket);
      this.socket.close(1000);
    }
    this.setState("connecting");
    var self = this;
    this.later("connect", CONNECT_TIMEOUT_MS, function () {
      self.drop(); // neither a snapshot nor a close: a half-open connection
    });
    var socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = function (message) {
      self.receive(message.data);
    };
    socket.onclose = function (event) {
      self.closed(event.code);
    };
  };

  Live.prototype.closed = function (code) {
    this.socket = null;
    this.clearAll();
    if (this.stopped) return;
    var final = FINAL_CLOSE_CODES[code];
    if (final) {
      this.stopped = true;
      this.setState(final);
      return;
    }
    this.scheduleReconnect();
  };

  // Give up on the current socket (silent for too long, or no snapshot after a resync).
  Live.prototype.drop = function () {
    var socket = this.socket;
    if (socket) {
      detach(socket);
      try {
        socket.close(4000);
      } catch (error) {
        /* already closing */
      }
    }
    this.closed(null);
  };

  Live.prototype.scheduleReconnect = function () {
    this.setState("offline");
    // Full jitter: after a server restart the clients do not all come back in the same instant.
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, this.attempt));
    this.attempt += 1;
    var self = this;
    this.later("reconnect", ceiling / 2 + (Math.random() * ceiling) / 2, function () {
      self.open();
    });
  };

  // Messages -----------------------------------------------------------------------------------

  Live.prototype.receive = function (text) {
    var message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    this.watchdog();
    if (message.type === "snapshot") this.applySnapshot(message);
    else if (message.type === "event") this.applyEvent(message);
    else if (message.type === "heartbeat") this.checkHeartbeat(message.streams || {});
    else if (message.type === "error") {
      if (window.console) console.warn("live:", message);
    } else if (this.state === "live" || this.state === "resyncing") {
      call(this.messageHandlers[message.type] || [], [message]); // before the first snapshot: it follows
    }
  };

  Live.prototype.applySnapshot = function (snapshot) {
    this.clear("connect");
    this.clear("resync");
    this.seqs = Object.assign({}, snapshot.streams);
    this.expected = {};
    this.lastId = 0;
    this.heartbeatMs = (snapshot.heartbeat || 0) * 1000;
    this.attempt = 0;
    this.watchdog();
    call(this.snapshotHandlers, [snapshot.data, snapshot]);
    this.setState("live");
  };

  Live.prototype.applyEvent = function (message) {
    if (this.state !== "live") return; // the snapshot on its way holds it
    var last = this.seqs[message.stream];
    if (typeof message.seq !== "number" || typeof last !== "number") {
      this.resync();
      return;
    }
    if (message.seq <= last) return; // already applied
    if (message.seq !== last + 1) {
      this.resync(); // one or more events of this stream were lost
      return;
    }
    this.seqs[message.stream] = message.seq;
    if (message.id <= this.lastId) return; // the same event through another of our streams
    this.lastId = message.id;
    call(this.anyEventHandlers, [message.event, message.payload, message]);
    call(this.eventHandlers[message.event] || [], [message.payload, message]);
  };

  // A heartbeat tells the last number of each stream. Events may still be on their way, so a
  // stream is only behind when it has not reached that number by the next heartbeat.
  Live.prototype.checkHeartbeat = function (streams) {
    if (this.state !== "live") return;
    var stream;
    for (stream in this.expected) {
      if ((this.seqs[stream] || 0) < this.expected[stream]) {
        this.resync();
        return;
      }
    }
    this.expected = {};
    for (stream in streams) {
      if (streams[stream] > (this.seqs[stream] || 0)) this.expected[stream] = streams[stream];
    }
  };

  // Nothing at all (not even a heartbeat) for a while: the connection is dead without knowing it.
  Live.prototype.watchdog = function () {
    if (!this.heartbeatMs) return;
    var self = this;
    this.later("watchdog", this.heartbeatMs * 2.5, function () {
      self.drop();
    });
  };

  // State and timers ---------------------------------------------------------------------------

  Live.prototype.setState = function (state) {
    if (state === this.state) return;
    this.state = state;
    document.documentElement.setAttribute("data-live", state);
    this.banner.show(state);
    call(this.stateHandlers, [state]);
  };

  Live.prototype.later = function (name, ms, callback) {
    this.clear(name);
    this.timers[name] = window.setTimeout(callback, ms);
  };

  Live.prototype.clear = function (name) {
    if (this.timers[name]) window.clearTimeout(this.timers[name]);
    delete this.timers[name];
  };

  Live.prototype.clearAll = function () {
    for (var name in this.timers) this.clear(name);
  };

  // The banner -----------------------------------------------------------------------------------

  function Banner(element, live) {
    this.element = element;
    this.timer = null;
    if (!element) return;
    this.text = element.querySelector(".live-banner-text");
    this.action = element.querySelector(".live-banner-action");
    this.action.addEventListener("click", function () {
      if (live.state === "signed-out") window.location.reload(); // the page's login redirect follows
      else live.reconnectNow();
    });
  }

  Banner.prototype.show = function (state) {
    if (!this.element) return;
    window.clearTimeout(this.timer);
    var self = this;
    if (state === "live") {
      this.render(null);
    } else if (state === "connecting" || state === "resyncing") {
      // Keep what an offline banner said until the page is live again; else wait a moment.
      if (!this.element.classList.contains("is-shown")) {
        this.timer = window.setTimeout(function () {
          self.render(state);
        }, BANNER_DELAY_MS);
      } else {
        this.render(state);
      }
    } else {
      this.render(state);
    }
  };

  Banner.prototype.render = function (state) {
    var data = this.element.dataset;
    this.element.classList.toggle("is-shown", !!state);
    this.element.setAttribute("data-state", state || "live");
    // The live region stays in the page; changing its text is what screen readers announce.
    this.text.textContent = state ? data[camel(state)] || "" : "";
    var action = state === "offline" ? data.retry : state === "signed-out" ? data.signIn : "";
    this.action.hidden = !action;
    this.action.textContent = action || "";
  };

  // Helpers --------------------------------------------------------------------------------------

  function defaultUrl(view) {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/ws/events/?view=" + encodeURIComponent(view);
  }

  function detach(socket) {
    socket.onmessage = socket.onclose = socket.onerror = null;
  }

  // A page's handler that throws must not stop the updates of the rest of the page.
  function call(handlers, args) {
    for (var i = 0; i < handlers.length; i++) {
      try {
        handlers[i].apply(null, args);
      } catch (error) {
        if (window.console) console.error("live: a page handler failed", error);
      }
    }
  }

  function camel(name) {
    return name.replace(/-([a-z])/g, function (_match, letter) {
      return letter.toUpperCase();
    });
  }

  window.HotlineLive = {
    STATES: STATES,
    current: null, // the page's connection, for scripts that add handlers to it
    connect: function (options) {
      this.current = new Live(options);
      return this.current;
    },
  };
})();
