// The custom-field scenario of issue 7, run once per client through a small adapter; the same
// steps and expectations as conformance/python/scenario.py (see there for the why).
//
// An adapter has: prefix, addField(fields) -> id, addFields([fields]) -> [id] (the client's
// batch facility), getField(id), listFields(params) -> records (the client's paging),
// updateField(id, fields), deleteField(id), deleteFields([id]) (batch), addContact(fields) -> id,
// addContacts([fields]) -> [id] (batch), listContacts(params) -> rows (paging), getContact(id),
// expectNotFound(promiseFactory).

import assert from 'node:assert/strict'

// A bitrix24.com portal's languages, in its order (decision 16).
export const LANGUAGES = [
  'ar', 'br', 'en', 'fr', 'id', 'it', 'ja', 'la', 'ms', 'pl', 'de', 'sc', 'tc', 'th', 'tr', 'vn'
]

// Extra string fields created through the client's batch facility: more than a page of 50.
export const FILLERS = 50

// Contacts created in a batch and read back through the client's paging helper (pages of 50).
export const PAGED_CONTACTS = 60

export function fieldSpecs (prefix) {
  const p = prefix.toLowerCase()
  return {
    nick: { FIELD_NAME: `${p}_nick`, USER_TYPE_ID: 'string', LABEL: 'Прозвище', SORT: 110 },
    size: { FIELD_NAME: `${p}_size`, USER_TYPE_ID: 'integer', LABEL: 'Shoe size', SORT: 120 },
    height: {
      FIELD_NAME: `${p}_height`, USER_TYPE_ID: 'double', LABEL: 'Größe', SORT: 130, SETTINGS: { PRECISION: 2 }
    },
    vip: { FIELD_NAME: `${p}_vip`, USER_TYPE_ID: 'boolean', LABEL: 'VIP', SORT: 140 },
    born: { FIELD_NAME: `${p}_born`, USER_TYPE_ID: 'date', LABEL: 'Birthday', SORT: 150 },
    tier: {
      FIELD_NAME: `${p}_tier`,
      USER_TYPE_ID: 'enumeration',
      LABEL: 'Tier',
      SORT: 160,
      LIST: [{ VALUE: 'Bronze', SORT: 10, DEF: 'Y' }, { VALUE: 'Silver', SORT: 20 }, { VALUE: 'Gold', SORT: 30 }]
    },
    tags: {
      FIELD_NAME: `${p}_tags`,
      USER_TYPE_ID: 'enumeration',
      LABEL: 'Tags',
      SORT: 170,
      MULTIPLE: 'Y',
      LIST: [{ VALUE: 'red', SORT: 10 }, { VALUE: 'green', SORT: 20 }]
    }
  }
}

export function fillerSpecs (prefix) {
  const p = prefix.toLowerCase()
  return Array.from({ length: FILLERS }, (_, i) => ({
    FIELD_NAME: `${p}_fill_${String(i).padStart(2, '0')}`,
    USER_TYPE_ID: 'string',
    LABEL: `Filler ${i}`,
    SORT: 500 + i
  }))
}

export const fullName = (spec) => `UF_CRM_${spec.FIELD_NAME.toUpperCase()}`
const labels = (text) => Object.fromEntries(LANGUAGES.map((lang) => [lang, text]))
const pick = (record, keys) => Object.fromEntries(keys.map((k) => [k, record[k]]))

/** `[VALUE, SORT, DEF]` of each enumeration item, in the order returned. */
const listSummary = (record) => record.LIST.map((i) => [i.VALUE, i.SORT, i.DEF])

/** Enumeration item IDs by VALUE; IDs must be numeric strings. */
function itemIds (record) {
  const ids = {}
  for (const item of record.LIST) {
    assert.match(item.ID, /^\d+$/)
    ids[item.VALUE] = item.ID
  }
  return ids
}

function checkDefinition (record, spec, id) {
  const name = fullName(spec)
  const keys = ['ID', 'ENTITY_ID', 'FIELD_NAME', 'USER_TYPE_ID', 'XML_ID', 'SORT', 'MULTIPLE', 'MANDATORY']
  assert.deepEqual(pick(record, keys), {
    ID: String(id),
    ENTITY_ID: 'CRM_CONTACT',
    FIELD_NAME: name,
    USER_TYPE_ID: spec.USER_TYPE_ID,
    XML_ID: null,
    SORT: String(spec.SORT),
    MULTIPLE: spec.MULTIPLE ?? 'N',
    MANDATORY: 'N'
  }, `${name} definition`)
  for (const key of ['EDIT_FORM_LABEL', 'LIST_COLUMN_LABEL', 'LIST_FILTER_LABEL']) {
    assert.deepEqual(record[key], labels(spec.LABEL), `${name} ${key}`)
  }
  if (spec.USER_TYPE_ID === 'enumeration') {
    const expected = spec.LIST.map((i) => [i.VALUE, String(i.SORT ?? 500), i.DEF ?? 'N'])
    assert.deepEqual(listSummary(record), expected, `${name} LIST`)
  } else {
    assert.equal(record.LIST, undefined, `${name}: LIST on a ${spec.USER_TYPE_ID} field`)
  }
}

/** Runs every step; resolves to the IDs it created (for the event checks). */
export async function runScenario (client) {
  const specs = fieldSpecs(client.prefix)
  const ids = await createTyped(client, specs)
  const fillers = await createFillers(client)
  await readAll(client, specs, ids, fillers)
  await update(client, ids)
  await contactValues(client, specs, ids)
  await contactPaging(client)
  await deleteAll(client, ids, fillers)
  return { ids, fillers, specs, prefix: client.prefix }
}

async function createTyped (client, specs) {
  const ids = {}
  for (const [short, spec] of Object.entries(specs)) {
    const id = await client.addField(spec)
    assert.ok(Number.isInteger(id) && id > 0, `add ${short} returned ${JSON.stringify(id)}`)
    ids[short] = id
  }
  for (const [short, spec] of Object.entries(specs)) {
    checkDefinition(await client.getField(ids[short]), spec, ids[short])
  }
  return ids
}

async function createFillers (client) {
  const fillers = await client.addFields(fillerSpecs(client.prefix))
  assert.equal(new Set(fillers).size, FILLERS, `fillers: ${JSON.stringify(fillers)}`)
  assert.ok(fillers.every(Number.isInteger), `fillers: ${JSON.stringify(fillers)}`)
  return fillers
}

/** The records of this client's fields (other clients share the portal). */
function own (client, records) {
  const mine = `UF_CRM_${client.prefix.toUpperCase()}_`
  return records.filter((r) => r.FIELD_NAME.startsWith(mine))
}

async function readAll (client, specs, ids, fillers) {
  const listed = own(client, await client.listFields({}))
  const byNumber = (a, b) => a - b
  assert.deepEqual(
    listed.map((r) => Number(r.ID)).sort(byNumber),
    [...Object.values(ids), ...fillers].sort(byNumber),
    'list: wrong or duplicated fields'
  )
  assert.ok(listed.every((r) => !('EDIT_FORM_LABEL' in r)), 'list without LANG shows labels')

  const enums = own(client, await client.listFields({ filter: { USER_TYPE_ID: 'enumeration', LANG: 'en' } }))
  assert.deepEqual(
    enums.map((r) => [r.FIELD_NAME, r.EDIT_FORM_LABEL]).sort(),
    ['tier', 'tags'].map((s) => [fullName(specs[s]), specs[s].LABEL]).sort(),
    'list filtered on USER_TYPE_ID with LANG'
  )
}

async function update (client, ids) {
  await client.updateField(ids.nick, { EDIT_FORM_LABEL: { en: 'Nickname' }, LIST_COLUMN_LABEL: 'Ник' })
  const nick = await client.getField(ids.nick)
  const form = Object.fromEntries(LANGUAGES.map((lang) => [lang, lang === 'en' ? 'Nickname' : '']))
  assert.deepEqual(nick.EDIT_FORM_LABEL, form, 'EDIT_FORM_LABEL after update')
  assert.deepEqual(nick.LIST_COLUMN_LABEL, labels('Ник'), 'LIST_COLUMN_LABEL after update')

  const before = itemIds(await client.getField(ids.tier))
  await client.updateField(ids.tier, {
    LIST: [{ ID: before.Bronze, DEL: 'Y' }, { ID: before.Silver, VALUE: 'Серебро' }, { VALUE: 'Platinum', SORT: 40 }]
  })
  const tier = await client.getField(ids.tier)
  const expected = [['Серебро', '20', 'N'], ['Gold', '30', 'N'], ['Platinum', '40', 'N']]
  assert.deepEqual(listSummary(tier), expected, 'tier LIST after update')
  const after = itemIds(tier)
  assert.equal(after['Серебро'], before.Silver)
  assert.equal(after.Gold, before.Gold)
}

async function contactValues (client, specs, ids) {
  const tier = itemIds(await client.getField(ids.tier))
  const tags = itemIds(await client.getField(ids.tags))
  const name = Object.fromEntries(Object.entries(specs).map(([short, spec]) => [short, fullName(spec)]))
  const written = {
    [name.nick]: 'Ника',
    [name.size]: 42,
    [name.height]: 1.75,
    [name.vip]: 'Y',
    [name.born]: '2024-08-22',
    [name.tier]: tier.Gold,
    [name.tags]: [tags.red, tags.green]
  }
  const contactId = await client.addContact({ NAME: 'Ann', LAST_NAME: client.prefix, ...written })
  assert.ok(Number.isInteger(contactId) && contactId > 0, `crm.contact.add returned ${JSON.stringify(contactId)}`)

  const contact = await client.getContact(contactId)
  assert.deepEqual(pick(contact, ['NAME', ...Object.keys(written)]), {
    NAME: 'Ann',
    [name.nick]: 'Ника',
    [name.size]: 42,
    [name.height]: 1.75,
    [name.vip]: '1',
    [name.born]: '2024-08-22T00:00:00+00:00',
    [name.tier]: tier.Gold,
    [name.tags]: [tags.red, tags.green]
  }, 'contact values read back')
}

// `crm.contact.list` pages by 50 with `next` and `total` (unlike the field list): the client's
// list helper must follow the pages and return every contact once.
async function contactPaging (client) {
  const lastName = `${client.prefix}-paging`
  const many = Array.from({ length: PAGED_CONTACTS }, (_, i) => ({ NAME: `P${i}`, LAST_NAME: lastName }))
  const created = await client.addContacts(many)
  assert.equal(new Set(created).size, PAGED_CONTACTS, `contacts: ${JSON.stringify(created)}`)
  assert.ok(created.every(Number.isInteger), `contacts: ${JSON.stringify(created)}`)
  const rows = await client.listContacts({ filter: { LAST_NAME: lastName }, select: ['ID', 'NAME'] })
  const byNumber = (a, b) => a - b
  const listed = rows.map((r) => Number(r.ID)).sort(byNumber)
  assert.deepEqual(listed, [...created].sort(byNumber), 'IDs of the paged contact list')
}

async function deleteAll (client, ids, fillers) {
  for (const id of Object.values(ids)) {
    await client.deleteField(id)
  }
  await client.deleteFields(fillers)
  await client.expectNotFound(() => client.getField(ids.tier))
  assert.deepEqual(own(client, await client.listFields({})), [], 'fields left after delete')
}

/** `[event, field ID]` pairs the scenario causes (decision 22), sorted. */
export function expectedEvents ({ ids, fillers, specs }) {
  const out = []
  for (const [short, id] of Object.entries(ids)) {
    out.push(['ONCRMCONTACTUSERFIELDADD', String(id)])
    if (specs[short].USER_TYPE_ID === 'enumeration') out.push(['ONCRMCONTACTUSERFIELDSETENUMVALUES', String(id)])
    out.push(['ONCRMCONTACTUSERFIELDDELETE', String(id)])
  }
  for (const id of fillers) {
    out.push(['ONCRMCONTACTUSERFIELDADD', String(id)], ['ONCRMCONTACTUSERFIELDDELETE', String(id)])
  }
  out.push(
    ['ONCRMCONTACTUSERFIELDUPDATE', String(ids.nick)],
    ['ONCRMCONTACTUSERFIELDUPDATE', String(ids.tier)],
    ['ONCRMCONTACTUSERFIELDSETENUMVALUES', String(ids.tier)]
  )
  return out.sort()
}

/** The four events of this client's fields arrived at its handler, each once, in Bitrix24's
 *  outgoing-webhook shape. */
export async function checkEvents (recorder, path, created, token) {
  const names = new Map(Object.entries(created.ids).map(([short, id]) => [String(id), fullName(created.specs[short])]))
  fillerSpecs(created.prefix).forEach((spec, i) => names.set(String(created.fillers[i]), fullName(spec)))
  const expected = expectedEvents(created)
  const mine = (forms) => forms.filter((f) => names.has(f.data?.FIELDS?.ID))

  const forms = mine(await recorder.waitFor(path, (forms) => mine(forms).length >= expected.length))
  assert.deepEqual(forms.map((f) => [f.event, f.data.FIELDS.ID]).sort(), expected, 'events received')
  for (const form of forms) {
    const id = form.data.FIELDS.ID
    assert.deepEqual(form.data, { FIELDS: { ID: id, ENTITY_ID: 'CRM_CONTACT', FIELD_NAME: names.get(id) } })
    assert.equal(form.auth.application_token, token)
    assert.match(form.event_handler_id, /^\d+$/)
    assert.match(form.ts, /^\d+$/)
  }
}
