// i18n.js: the interface's words, Dutch first, English second.
const WORDS = {
  nl: {
    app: 'casus',
    tagline: 'Beveiligd casusoverleg',
    skip: 'Naar de inhoud',
    switchLang: 'English',
    switchLangLabel: 'Switch to English',
    status_offline: 'Niet verbonden',
    status_connecting: 'Verbinden…',
    status_online: 'Verbonden',
    status_reconnecting: 'Verbinding verbroken, opnieuw verbinden…',
    status_error: 'Verbinding geweigerd',
    enrolTitle: 'Dit apparaat aanmelden',
    enrolIntro:
      'Uw sleutels worden in deze browser gemaakt en verlaten hem nooit. De beheerder ondertekent daarna uw certificaatverzoek.',
    user: 'Gebruikersnaam',
    userHelp: 'Kleine letters, cijfers en . _ @ - (bijvoorbeeld cm.jansen)',
    name: 'Volledige naam',
    org: 'Organisatie',
    role: 'Rol',
    roleHelp: 'Zoals de beheerder die heeft opgegeven, bijvoorbeeld casemanager of ggd',
    root: 'Sleutel van de installatie',
    rootHelp: '64 tekens, te krijgen van uw beheerder; controleer hem met de beheerder',
    pass: 'Wachtwoordzin',
    passHelp: 'Minstens 10 tekens. Zonder deze zin zijn uw sleutels niet te openen.',
    pass2: 'Wachtwoordzin herhalen',
    makeKeys: 'Sleutels maken',
    working: 'Bezig…',
    errPassShort: 'De wachtwoordzin moet minstens 10 tekens hebben.',
    errPassDiffer: 'De twee wachtwoordzinnen zijn niet gelijk.',
    errRoot: 'De sleutel van de installatie is 64 tekens 0-9 en a-f.',
    errFields: 'Gebruikersnaam of rol klopt niet (alleen a-z 0-9 . _ @ -).',
    installTitle: 'Certificaat installeren',
    installIntro:
      'Geef het certificaatverzoek aan uw beheerder. Installeer daarna het certificaat dat u terugkrijgt.',
    device: 'Apparaat',
    downloadReq: 'Certificaatverzoek downloaden',
    certFile: 'Certificaat van de beheerder',
    install: 'Certificaat installeren',
    installed: 'Certificaat geïnstalleerd. U kunt nu inloggen.',
    errCert: 'Certificaat geweigerd',
    errCertOther: 'Dit certificaat hoort bij een ander apparaat.',
    errNoFile: 'Kies eerst het certificaatbestand.',
    loginTitle: 'Inloggen',
    loginAs: 'Apparaat van',
    login: 'Inloggen',
    errPass: 'Verkeerde wachtwoordzin.',
    errAuth: 'De server weigerde de aanmelding',
    errPolicy: 'Het beleid van de server is niet te vertrouwen',
    errNet: 'De server is niet bereikbaar',
    forget: 'Dit apparaat vergeten',
    forgetConfirm: 'Sleutels van dit apparaat uit deze browser wissen?',
    listTitle: 'Mijn casussen',
    loggedInAs: 'Ingelogd als',
    logout: 'Uitloggen',
    refresh: 'Vernieuwen',
    none: 'U bent nog geen lid van een casus.',
    colPurpose: 'Doel',
    colBasis: 'Grondslag',
    colLevel: 'Niveau',
    colUnread: 'Ongelezen',
    colMembers: 'Leden',
    colState: 'Status',
    open: 'Open',
    closed: 'Gesloten',
    notices: 'Meldingen',
    noticeEscalation: 'Casus {casus} is opgeschaald naar niveau {level}: uw rol is nodig.',
    policyLine: 'Beleid {number} van {deployment}, geverifieerd',
    unverifiedNote:
      'Niveau en aantallen komen van de server; de inhoud van een casus wordt pas getoond als deze browser hem zelf heeft geverifieerd.',
    fingerprint: 'Vingerafdruk',
  },
  en: {
    app: 'casus',
    tagline: 'Secure case conferences',
    skip: 'Skip to content',
    switchLang: 'Nederlands',
    switchLangLabel: 'Schakel naar Nederlands',
    status_offline: 'Not connected',
    status_connecting: 'Connecting…',
    status_online: 'Connected',
    status_reconnecting: 'Connection lost, reconnecting…',
    status_error: 'Connection refused',
    enrolTitle: 'Enrol this device',
    enrolIntro:
      'Your keys are made in this browser and never leave it. The administrator then signs your certificate request.',
    user: 'User name',
    userHelp: 'Lower case letters, digits and . _ @ - (for example cm.jansen)',
    name: 'Full name',
    org: 'Organisation',
    role: 'Role',
    roleHelp: 'As given by the administrator, for example casemanager or ggd',
    root: 'Deployment key',
    rootHelp: '64 characters from your administrator; check it with them',
    pass: 'Passphrase',
    passHelp: 'At least 10 characters. Without it your keys cannot be opened.',
    pass2: 'Repeat passphrase',
    makeKeys: 'Make keys',
    working: 'Working…',
    errPassShort: 'The passphrase needs at least 10 characters.',
    errPassDiffer: 'The two passphrases differ.',
    errRoot: 'The deployment key is 64 characters 0-9 and a-f.',
    errFields: 'User name or role is not valid (only a-z 0-9 . _ @ -).',
    installTitle: 'Install certificate',
    installIntro: 'Give the certificate request to your administrator. Then install the certificate you get back.',
    device: 'Device',
    downloadReq: 'Download certificate request',
    certFile: 'Certificate from the administrator',
    install: 'Install certificate',
    installed: 'Certificate installed. You can log in now.',
    errCert: 'Certificate refused',
    errCertOther: 'This certificate belongs to another device.',
    errNoFile: 'Choose the certificate file first.',
    loginTitle: 'Log in',
    loginAs: 'Device of',
    login: 'Log in',
    errPass: 'Wrong passphrase.',
    errAuth: 'The server refused the login',
    errPolicy: "The server's policy cannot be trusted",
    errNet: 'The server cannot be reached',
    forget: 'Forget this device',
    forgetConfirm: "Erase this device's keys from this browser?",
    listTitle: 'My cases',
    loggedInAs: 'Logged in as',
    logout: 'Log out',
    refresh: 'Refresh',
    none: 'You are not a member of any case yet.',
    colPurpose: 'Purpose',
    colBasis: 'Legal basis',
    colLevel: 'Level',
    colUnread: 'Unread',
    colMembers: 'Members',
    colState: 'State',
    open: 'Open',
    closed: 'Closed',
    notices: 'Notices',
    noticeEscalation: 'Casus {casus} was escalated to level {level}: your role is needed.',
    policyLine: 'Policy {number} of {deployment}, verified',
    unverifiedNote:
      'Level and counts come from the server; the content of a case is only shown once this browser has verified it itself.',
    fingerprint: 'Fingerprint',
  },
};

let lang = 'nl';
try {
  const saved = localStorage.getItem('casus.lang');
  if (saved === 'en' || saved === 'nl') lang = saved;
} catch {
  /* storage refused: stay Dutch */
}

export function getLang() {
  return lang;
}

export function setLang(l) {
  lang = l === 'en' ? 'en' : 'nl';
  document.documentElement.lang = lang;
  try {
    localStorage.setItem('casus.lang', lang);
  } catch {
    /* ignore */
  }
}

export function t(key, vars) {
  let s = WORDS[lang][key] ?? WORDS.nl[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? '' : String(vars[k])));
  return s;
}
