// What the Node client tests share: the server `conformance/run` started (from the environment),
// a recording event handler, management commands, and PHP-style form decoding.

import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import { promisify } from 'node:util'

/** The server under test, as `conformance/run` announced it. */
export function portal () {
  const missing = ['B24LITE_URL', 'B24LITE_WEBHOOK_URL', 'B24LITE_CERT'].filter((n) => !process.env[n])
  if (missing.length > 0) {
    throw new Error(`run these tests through conformance/run (${missing.join(', ')} unset)`)
  }
  return {
    url: process.env.B24LITE_URL,
    webhookUrl: process.env.B24LITE_WEBHOOK_URL,
    bin: process.env.B24LITE_BIN ?? 'b24lite',
    data: process.env.B24LITE_DATA ?? ''
  }
}

/** Runs a management command on the server's data folder; resolves to its stdout. */
export async function cli (server, ...args) {
  const { stdout } = await promisify(execFile)(server.bin, [...args, '--data', server.data])
  return stdout
}

const FIELD_EVENTS = [
  'onCrmContactUserFieldAdd',
  'onCrmContactUserFieldUpdate',
  'onCrmContactUserFieldDelete',
  'onCrmContactUserFieldSetEnumValues'
]

/** Registers an outgoing webhook (`b24lite outgoing add`) for the four field events that posts
 *  to `url`; resolves to `{ id, token }` (its id and application_token). */
export async function subscribe (server, url) {
  const flags = FIELD_EVENTS.flatMap((name) => ['--event', name])
  const out = await cli(server, 'outgoing', 'add', '--url', url, ...flags)
  const [id, token] = out.trim().split('\t')
  if (!/^\d+$/.test(id) || !token) throw new Error(`unexpected outgoing add output: ${out}`)
  return { id, token }
}

export const unsubscribe = (server, id) => cli(server, 'outgoing', 'delete', id)

/** Decodes `a[b][c]=x&...` into nested objects, as PHP fills `$_POST`. */
export function phpForm (body) {
  const out = {}
  for (const [key, value] of new URLSearchParams(body)) {
    const [head, ...rest] = key.split('[')
    const path = [head, ...rest.map((part) => part.replace(/\]$/, ''))]
    let node = out
    for (const part of path.slice(0, -1)) {
      node = node[part] ??= {}
    }
    node[path.at(-1)] = value
  }
  return out
}

/** A plain-HTTP handler on a free loopback port that records every POST it receives. */
export async function eventRecorder () {
  const received = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk) => { body += chunk })
    request.on('end', () => {
      received.push({ path: request.url, form: phpForm(body) })
      response.writeHead(200, { 'Content-Length': '0' })
      response.end()
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    url: (path) => `http://127.0.0.1:${port}/${path.replace(/^\//, '')}`,
    received: (path) => received.filter((r) => r.path === `/${path.replace(/^\//, '')}`).map((r) => r.form),
    /** Polls until `done(forms)` holds for the forms received on `path`; resolves to them. */
    async waitFor (path, done, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const forms = this.received(path)
        if (done(forms) || Date.now() > deadline) return forms
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    close: () => new Promise((resolve) => server.close(resolve))
  }
}
