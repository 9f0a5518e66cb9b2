// @bitrix24/b24jssdk (the official JS SDK): JSON POSTs over HTTPS (axios), method names in the
// path with `?IRIS_REQUEST_ID=..` style query parameters, batches as `method?qs` strings.
//
// Driven through its current (non-deprecated) API: `B24Hook.fromWebhookUrl`,
// `actions.v2.call.make`, `actions.v2.batch.make`, `actions.v2.batchByChunk.make`, and the
// documented manual paging with `AjaxResult.isMore()` / `getNext()`. Not `actions.v2.callList` or
// `fetchList`: they page with a `>ID` cursor filter that `crm.contact.userfield.list` ignores on
// Bitrix24 (unknown filter keys are dropped), so with 50+ fields they would request the same page
// forever, on a portal as on b24lite.

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { AjaxError, B24Hook } from '@bitrix24/b24jssdk'

import { checkEvents, runScenario } from './scenario.mjs'
import { eventRecorder, portal, subscribe, unsubscribe } from './support.mjs'

let b24

before(() => {
  b24 = B24Hook.fromWebhookUrl(portal().webhookUrl)
})

after(() => b24?.destroy())

const call = async (method, params = {}) => (await b24.actions.v2.call.make({ method, params })).getData().result

test('profile and user.current', async () => {
  const profile = await call('profile')
  assert.deepEqual([profile.ID, profile.ADMIN, profile.NAME], ['1', true, 'Admin'])
  const user = await call('user.current')
  assert.deepEqual([user.ID, user.ACTIVE], ['1', true])
})

test('server.time and scope', async () => {
  const answer = await b24.actions.v2.call.make({ method: 'server.time', params: {} })
  assert.match(answer.getData().result, /^20\d\d-\d\d-\d\dT/)
  assert.equal(typeof answer.getData().time.duration, 'number')
  assert.ok((await call('scope')).includes('crm'))
})

test('an unknown method is an AjaxError with ERROR_METHOD_NOT_FOUND', async () => {
  await assert.rejects(call('crm.contact.nosuchthing'), (error) => {
    assert.ok(error instanceof AjaxError)
    assert.equal(error.code, 'ERROR_METHOD_NOT_FOUND')
    assert.equal(error.status, 404)
    return true
  })
})

test('batch with references', async () => {
  const answer = await b24.actions.v2.batch.make({
    calls: {
      add: { method: 'crm.contact.userfield.add', params: { fields: { FIELD_NAME: 'jssdkref', USER_TYPE_ID: 'string' } } },
      get: { method: 'crm.contact.userfield.get', params: { id: '$result[add]' } },
      drop: { method: 'crm.contact.userfield.delete', params: { id: '$result[get][ID]' } }
    },
    options: { isHaltOnError: true }
  })
  assert.ok(answer.isSuccess, answer.getErrorMessages().join('; '))
  const { add, get, drop } = answer.getData()
  assert.ok(get, `no result for "get": ${JSON.stringify(answer.getData())}`)
  assert.equal(get.FIELD_NAME, 'UF_CRM_JSSDKREF')
  assert.equal(get.ID, String(add))
  assert.equal(drop, true)
})

/** All pages of a list method, by the SDK's documented manual paging. */
async function allPages (method, params) {
  let page = await b24.actions.v2.call.make({ method, params })
  const rows = [...page.getData().result]
  while (page.isMore()) {
    page = await page.getNext(b24.getHttpClient())
    rows.push(...page.getData().result)
  }
  return rows
}

async function batchList (calls) {
  const answer = await b24.actions.v2.batchByChunk.make({ calls, options: { isHaltOnError: true } })
  assert.ok(answer.isSuccess, answer.getErrorMessages().join('; '))
  return answer.getData()
}

const adapter = {
  prefix: 'jssdk',
  addField: (fields) => call('crm.contact.userfield.add', { fields }),
  addFields: (many) => batchList(many.map((fields) => ['crm.contact.userfield.add', { fields }])),
  getField: (id) => call('crm.contact.userfield.get', { id }),
  listFields: (params) => allPages('crm.contact.userfield.list', params),
  async updateField (id, fields) {
    assert.equal(await call('crm.contact.userfield.update', { id, fields }), true)
  },
  async deleteField (id) {
    assert.equal(await call('crm.contact.userfield.delete', { id }), true)
  },
  async deleteFields (ids) {
    const answers = await batchList(ids.map((id) => ['crm.contact.userfield.delete', { id }]))
    assert.deepEqual(answers, ids.map(() => true))
  },
  addContact: (fields) => call('crm.contact.add', { fields }),
  addContacts: (many) => batchList(many.map((fields) => ['crm.contact.add', { fields }])),
  // The SDK's recommended list helper: pages with a `>ID` cursor, which crm.contact.list honours.
  async listContacts (params) {
    const answer = await b24.actions.v2.callList.make({ method: 'crm.contact.list', params })
    assert.ok(answer.isSuccess, answer.getErrorMessages().join('; '))
    return answer.getData()
  },
  getContact: (id) => call('crm.contact.get', { id }),
  async expectNotFound (makeCall) {
    await assert.rejects(makeCall(), (error) => error instanceof AjaxError && error.code === 'ERROR_NOT_FOUND')
  }
}

test('custom field lifecycle, and its events', async () => {
  const server = portal()
  const recorder = await eventRecorder()
  const webhook = await subscribe(server, recorder.url('jssdk'))
  try {
    const created = await runScenario(adapter)
    await checkEvents(recorder, 'jssdk', created, webhook.token)
  } finally {
    await unsubscribe(server, webhook.id)
    await recorder.close()
  }
})
