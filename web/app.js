'use strict';
// Status page script: polls the JSON API (see src/http/api.ts); every value is inserted as text.
