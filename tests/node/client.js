// The article's Node.js WebSocket client, on the `ws` package.
//
//   node client.js [URL]      (default ws://localhost:8080)
//
// On open it sends "Hello Server"; it prints the first message it receives
// and closes the connection with ws.close() (no code); on close it prints
// the close code and reason and exits.
const WebSocket = require('ws');

const url = process.argv[2] ?? 'ws://localhost:8080';
const ws = new WebSocket(url);

ws.onopen = () => {
  console.log('connected');
  ws.send('Hello Server');
};

ws.onmessage = (event) => {
  console.log(`received: ${event.data}`);
  ws.close();
};

ws.onclose = (event) => {
  console.log(`closed: code ${event.code} reason '${event.reason}'`);
  process.exit(0);
};

ws.onerror = (event) => {
  console.log(`error: ${event.message}`);
  process.exit(1);
};
