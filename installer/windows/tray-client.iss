; Inno Setup script for CRM Tray Client on Windows (Inno Setup 6).
;
; NOT BUILT OR TESTED in this project's CI: it needs Windows (or Wine) and Inno Setup. Steps,
; on a Windows machine with Python 3.11+ and Inno Setup 6:
;   py -m pip install -e ".[installer]"
;   py -m PyInstaller --noconfirm installer\tray-client.spec   -> dist\tray-client\
;   iscc /DAppVersion=0.1.0 installer\windows\tray-client.iss  -> dist\tray-client-setup-0.1.0.exe
;
; Per-user install (no administrator rights): into %LOCALAPPDATA%\Programs\CRM Tray Client,
; a Start-menu entry, and an optional "start when I sign in" shortcut in the user's Startup
; folder. Settings, the local store and logs (under %LOCALAPPDATA%\tray-client) are kept on
; uninstall.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "CRM Tray Client"
#define AppExeName "tray-client-gui.exe"
#define CliExeName "tray-client.exe"
#define BuildDir "..\..\dist\tray-client"

[Setup]
; A fixed AppId keeps upgrades in place; never change it.
AppId={{6F0E1B8C-3C71-4B8E-9E0A-2B7C5A1D9F44}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=CRM Tray Client developers
AppPublisherURL=https://github.com/trayclient/tray-client
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per user: {autopf} is %LOCALAPPDATA%\Programs, no UAC prompt.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputDir=..\..\dist
OutputBaseFilename=tray-client-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\{#AppExeName}
; The tray app must not be running while its files are replaced.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "autostart"; Description: "Start {#AppName} when I sign in"; GroupDescription: "Start:"; Flags: unchecked
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller one-folder build: tray-client.exe (console, for the command line),
; tray-client-gui.exe (windowed, for shortcuts) and _internal\.
Source: "{#BuildDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExeName}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Tasks: desktopicon
; Start at login: a shortcut in the user's Startup folder (what the app's own setting
; points Windows users to as well).
Name: "{userstartup}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Tasks: autostart

[Run]
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; Stop a running tray app so its files can be removed.
Filename: "{sys}\taskkill.exe"; Parameters: "/f /im {#AppExeName}"; Flags: runhidden; RunOnceId: "StopTrayClient"
