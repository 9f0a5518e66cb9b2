// @2bad/bitrix: every call is a GET (got) of `{webhook}/{method}` with `qs`-encoded parameters
// (`fields%5BLIST%5D%5B0%5D%5BVALUE%5D=..`); `batch` is a GET too, with each command's own query
// encoded once more inside `cmd[key]=method?...`. Failed HTTP statuses reject with got's
// `HTTPError` (the Bitrix24 body in `error.response.body`); errors inside a batch reject with an
// `Error` listing them. `list()` follows `next` with batches of `start` offsets.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Bitrix } from '@2bad/bitrix'

import { checkEvents, runScenario } from './scenario.mjs'
import { eventRecorder, portal, subscribe, unsubscribe } from './support.mjs'

const bitrix = Bitrix(portal().webhookUrl.replace(/\/$/, ''))

const call = async (method, params = {}) => (await bitrix.call(method, params)).result

/** The Bitrix24 error body of a got `HTTPError`. */
async function rejectsWith (promise, status, code) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.name, 'HTTPError')
    assert.equal(error.response.statusCode, status)
    assert.equal(error.response.body.error, code)
    return true
  })
}

test('profile and user.current', async () => {
  const profile = await call('profile')
  assert.deepEqual([profile.ID, profile.ADMIN, profile.NAME], ['1', true, 'Admin'])
  const user = await call('user.current')
  assert.deepEqual([user.ID, user.ACTIVE], ['1', true])
})

test('server.time and scope', async () => {
  assert.match(await call('server.time'), /^20\d\d-\d\d-\d\dT/)
  assert.ok((await call('scope')).includes('crm'))
})

test('an unknown method is an HTTPError carrying ERROR_METHOD_NOT_FOUND', async () => {
  await rejectsWith(call('crm.contact.nosuchthing'), 404, 'ERROR_METHOD_NOT_FOUND')
})

test('batch with references', async () => {
  const { result } = await bitrix.batch({
    add: { method: 'crm.contact.userfield.add', params: { fields: { FIELD_NAME: 'twobadref', USER_TYPE_ID: 'string' } } },
    get: { method: 'crm.contact.userfield.get', params: { id: '$result[add]' } },
    drop: { method: 'crm.contact.userfield.delete', params: { id: '$result[get][ID]' } }
  })
  assert.equal(result.result.get.FIELD_NAME, 'UF_CRM_TWOBADREF')
  assert.equal(result.result.get.ID, String(result.result.add))
  assert.equal(result.result.drop, true)
})

/** Commands as an array: the client splits them into batches of 50 and merges the answers. */
async function batchList (commands) {
  const { result } = await bitrix.batch(commands)
  return result.result
}

const adapter = {
  prefix: 'twobad',
  addField: (fields) => call('crm.contact.userfield.add', { fields }),
  addFields: (many) => batchList(many.map((fields) => ({ method: 'crm.contact.userfield.add', params: { fields } }))),
  getField: (id) => call('crm.contact.userfield.get', { id }),
  listFields: async (params) => (await bitrix.list('crm.contact.userfield.list', params)).result,
  async updateField (id, fields) {
    assert.equal(await call('crm.contact.userfield.update', { id, fields }), true)
  },
  async deleteField (id) {
    assert.equal(await call('crm.contact.userfield.delete', { id }), true)
  },
  async deleteFields (ids) {
    const answers = await batchList(ids.map((id) => ({ method: 'crm.contact.userfield.delete', params: { id } })))
    assert.deepEqual(answers, ids.map(() => true))
  },
  addContact: (fields) => call('crm.contact.add', { fields }),
  addContacts: (many) => batchList(many.map((fields) => ({ method: 'crm.contact.add', params: { fields } }))),
  listContacts: async (params) => (await bitrix.list('crm.contact.list', params)).result,
  getContact: (id) => call('crm.contact.get', { id }),
  expectNotFound: (makeCall) => rejectsWith(makeCall(), 400, 'ERROR_NOT_FOUND')
}

test('custom field lifecycle, and its events', async () => {
  const server = portal()
  const recorder = await eventRecorder()
  const webhook = await subscribe(server, recorder.url('twobad'))
  try {
    const created = await runScenario(adapter)
    await checkEvents(recorder, 'twobad', created, webhook.token)
  } finally {
    await unsubscribe(server, webhook.id)
    await recorder.close()
  }
})
