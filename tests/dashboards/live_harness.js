// Runs callcentre/static/hotline/live.js against a fake browser (DOM, WebSocket, clock) and checks
// the client side of the protocol. Usage: node live_harness.js <path to live.js>; exit 0 = passed.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const vm = require("node:vm");

const source = fs.readFileSync(process.argv[2], "utf8");

function makeBrowser() {
  let now = 0;
  let nextTimer = 1;
  const timers = new Map();
  const sockets = [];
  const listeners = {};

  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = FakeSocket.OPEN;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close(code) {
      this.closedWith = code;
      this.readyState = 3;
    }
    // The server's side.
    message(data) {
      this.onmessage({ data: JSON.stringify(data) });
    }
    drop(code) {
      this.readyState = 3;
      this.onclose({ code });
    }
  }
  FakeSocket.OPEN = 1;

  function element(extra) {
    const classes = new Set();
    return Object.assign(
      {
        dataset: {},
        attributes: {},
        hidden: false,
        textContent: "",
        classList: {
          toggle: (name, on) => (on ? classes.add(name) : classes.delete(name)),
          contains: (name) => classes.has(name),
        },
        setAttribute(name, value) {
          this.attributes[name] = value;
        },
        addEventListener(type, handler) {
          this["on" + type] = handler;
        },
      },
      extra,
    );
  }

  const text = element();
  const action = element();
  const banner = element({
    querySelector: (selector) => (selector === ".live-banner-text" ? text : action),
  });
  Object.assign(banner.dataset, {
    connecting: "Connecting",
    resyncing: "Catching up",
    offline: "Offline",
    signedOut: "Signed out",
    forbidden: "Forbidden",
    retry: "Reconnect now",
    signIn: "Sign in again",
  });

  const window = {
    location: { protocol: "https:", host: "hotline.example:8443", reload() {} },
    addEventListener: (type, handler) => (listeners[type] = handler),
    setTimeout: (callback, ms) => {
      timers.set(nextTimer, { at: now + ms, callback });
      return nextTimer++;
    },
    clearTimeout: (id) => timers.delete(id),
    console: { warn() {}, error() {} },
  };
  const document = {
    documentElement: element(),
    getElementById: (id) => (id === "live-banner" ? banner : null),
  };
  const context = { window, document, WebSocket: FakeSocket, Math, JSON, Object, Array, String, Number, Error };
  context.console = window.console;
  vm.createContext(context);
  vm.runInContext(source, context);

  return {
    Live: window.HotlineLive,
    sockets,
    banner,
    text,
    action,
    listeners,
    html: document.documentElement,
    // Run the timers due within `ms`, in order.
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].callback();
      }
      now = end;
    },
    pendingDelay(ms) {
      return [...timers.values()].map((t) => t.at - now);
    },
  };
}

function connect(browser, view = "department") {
  const log = { snapshots: [], events: [], states: [] };
  const live = browser.Live.connect({
    view,
    onSnapshot: (data, snapshot) => log.snapshots.push([data, snapshot]),
    onEvent: (name, payload, message) => log.events.push([name, message.stream, message.seq, message.id]),
    onState: (state) => log.states.push(state),
  });
  return { live, log, socket: () => browser.sockets[browser.sockets.length - 1] };
}

const snapshot = (streams, heartbeat = 25) => ({ type: "snapshot", view: "department", streams, heartbeat, data: { n: 1 } });
const event = (stream, seq, id, name = "ticket.dispatch") => ({ type: "event", stream, seq, id, event: name, payload: {} });

const tests = {
  "opens the view's socket and applies the snapshot, then numbered events in order"() {
    const browser = makeBrowser();
    const { live, log, socket } = connect(browser);
    assert.equal(socket().url, "wss://hotline.example:8443/ws/events/?view=department");
    assert.equal(live.state, "connecting");
    socket().message(snapshot({ "department.3": 5 }));
    assert.deepEqual(log.snapshots[0][0], { n: 1 });
    assert.equal(live.state, "live");
    assert.equal(browser.html.attributes["data-live"], "live");
    socket().message(event("department.3", 6, 100));
    socket().message(event("department.3", 6, 100)); // a resend
    socket().message(event("department.3", 5, 90)); // in the snapshot already
    socket().message(event("department.3", 7, 120));
    assert.deepEqual(log.events, [
      ["ticket.dispatch", "department.3", 6, 100],
      ["ticket.dispatch", "department.3", 7, 120],
    ]);
    assert.deepEqual(socket().sent, []);
  },

  "a gap in a stream asks for a snapshot and applies nothing until it comes"() {
    const browser = makeBrowser();
    const { live, log, socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }));
    socket().message(event("department.3", 7, 120)); // 6 was lost
    assert.deepEqual(socket().sent, [{ type: "resync" }]);
    assert.equal(live.state, "resyncing");
    socket().message(event("department.3", 8, 130)); // before the snapshot: covered by it
    assert.deepEqual(log.events, []);
    browser.advance(1500);
    assert.equal(browser.text.textContent, "Catching up"); // the banner, after a moment
    socket().message(snapshot({ "department.3": 8 }));
    assert.equal(live.state, "live");
    assert.equal(browser.text.textContent, "");
    assert.equal(log.snapshots.length, 2);
    socket().message(event("department.3", 9, 140));
    assert.deepEqual(log.events, [["ticket.dispatch", "department.3", 9, 140]]);
  },

  "an event for two of the socket's streams is applied once"() {
    const browser = makeBrowser();
    const { log, socket } = connect(browser, "operator");
    socket().message(snapshot({ operators: 10, "operator.7": 2 }));
    socket().message(event("operators", 11, 500, "callback.due"));
    socket().message(event("operator.7", 3, 500, "callback.due"));
    socket().message(event("operator.7", 4, 501, "call.answer"));
    assert.deepEqual(
      log.events.map((e) => e[3]),
      [500, 501],
    );
    assert.deepEqual(socket().sent, []);
  },

  "a heartbeat ahead of the stream resyncs only if the events do not follow by the next one"() {
    const browser = makeBrowser();
    const { socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }));
    socket().message({ type: "heartbeat", streams: { "department.3": 6 } }); // 6 may be on its way
    socket().message(event("department.3", 6, 100));
    socket().message({ type: "heartbeat", streams: { "department.3": 7 } });
    assert.deepEqual(socket().sent, []);
    socket().message({ type: "heartbeat", streams: { "department.3": 7 } }); // 7 never came
    assert.deepEqual(socket().sent, [{ type: "resync" }]);
  },

  "a dropped socket shows the offline banner and reconnects with growing jittered delays"() {
    const browser = makeBrowser();
    const { live, socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }));
    const delays = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      socket().drop(1006);
      assert.equal(live.state, "offline");
      assert.equal(browser.text.textContent, "Offline"); // at once, not after a delay
      assert.equal(browser.action.hidden, false);
      assert.equal(browser.action.textContent, "Reconnect now");
      assert.equal(browser.banner.attributes["data-state"], "offline");
      const [delay] = browser.pendingDelay();
      delays.push(delay);
      const before = browser.sockets.length;
      browser.advance(delay);
      assert.equal(browser.sockets.length, before + 1);
    }
    const ceilings = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000];
    delays.forEach((delay, i) => assert.ok(delay >= ceilings[i] / 2 && delay <= ceilings[i], `${i}: ${delay}`));
    // The new socket starts with a snapshot, which ends the offline state and resets the backoff.
    socket().message(snapshot({ "department.3": 9 }));
    assert.equal(live.state, "live");
    assert.equal(browser.text.textContent, "");
    socket().drop(1006);
    assert.ok(browser.pendingDelay()[0] <= 500);
  },

  "the reconnect button and the browser coming online reconnect at once"() {
    const browser = makeBrowser();
    const { socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }));
    socket().drop(1006);
    const before = browser.sockets.length;
    browser.action.onclick();
    assert.equal(browser.sockets.length, before + 1);
    socket().drop(1006);
    browser.listeners.online();
    assert.equal(browser.sockets.length, before + 2);
  },

  "signed out (4401) and forbidden (4403) are final: a banner, no retry"() {
    for (const [code, state, banner] of [
      [4401, "signed-out", "Signed out"],
      [4403, "forbidden", "Forbidden"],
    ]) {
      const browser = makeBrowser();
      const { live, socket } = connect(browser);
      socket().drop(code);
      assert.equal(live.state, state);
      assert.equal(browser.text.textContent, banner);
      browser.advance(120000);
      assert.equal(browser.sockets.length, 1);
    }
  },

  "a silent connection is given up after two and a half heartbeats"() {
    const browser = makeBrowser();
    const { live, socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }, 10));
    browser.advance(20000);
    socket().message({ type: "heartbeat", streams: { "department.3": 5 } });
    browser.advance(24000);
    assert.equal(live.state, "live");
    browser.advance(1001);
    assert.equal(live.state, "offline");
    assert.equal(browser.sockets[0].closedWith, 4000);
  },

  "a resync with no answer starts over on a new socket"() {
    const browser = makeBrowser();
    const { live, socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }, 0));
    live.resync();
    browser.advance(10001);
    assert.equal(live.state, "offline");
    browser.advance(1000);
    assert.equal(browser.sockets.length, 2);
  },

  "leaving the page closes the socket without an offline banner"() {
    const browser = makeBrowser();
    const { live, socket } = connect(browser);
    socket().message(snapshot({ "department.3": 5 }));
    browser.listeners.pagehide();
    assert.equal(socket().closedWith, 1000);
    assert.equal(live.state, "live");
    browser.advance(60000);
    assert.equal(browser.sockets.length, 1);
  },

  "a failing page handler does not stop the updates"() {
    const browser = makeBrowser();
    const seen = [];
    const live = browser.Live.connect({
      view: "supervisor",
      onEvent: () => {
        throw new Error("page bug");
      },
    });
    live.on("ticket.accept", (payload, message) => seen.push(message.seq));
    const socket = browser.sockets[0];
    socket.message(snapshot({ supervisors: 1 }));
    socket.message(event("supervisors", 2, 10, "ticket.accept"));
    socket.message(event("supervisors", 3, 11, "ticket.accept"));
    assert.deepEqual(seen, [2, 3]);
    assert.equal(browser.Live.current, live);
  },
};

let failed = 0;
for (const [name, test] of Object.entries(tests)) {
  try {
    test();
    console.log("ok   " + name);
  } catch (error) {
    failed += 1;
    console.log("FAIL " + name + "\n" + (error.stack || error));
  }
}
process.exit(failed ? 1 : 0);
